package jetstream_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/storage/jetstream"
)

// TestStateR3 reads a replicated state bucket through each server: the
// leader's answer (which Get asks for when a replica's direct get finds
// nothing, since a replica that lags may miss a write) is the record's
// stored value, and nothing for a key never written, deleted, or removed
// by its TTL.
func TestStateR3(t *testing.T) {
	servers := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := jetstream.StateConfig{Bucket: "R3STATE", Replicas: 3, Grace: time.Nanosecond}
	st := settled(t, ctx, func() (*jetstream.State, error) { return jetstream.OpenState(ctx, connect(t, servers[0]), cfg) })
	defer st.Close()
	put := func(recs ...broker.Record) {
		t.Helper()
		if err := st.Put(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	put(broker.Record{Key: "sio/session/kept", Value: []byte(`{"a":1}`)},
		broker.Record{Key: "sio/session/deleted", Value: []byte(`{"b":2}`)},
		broker.Record{Key: "sio/session/ttl", Value: []byte(`{"c":3}`), Expires: time.Now().Add(time.Millisecond)})
	put(broker.Record{Key: "sio/session/deleted"}) // a nil value deletes

	for i, s := range servers {
		r, err := jetstream.OpenState(ctx, connect(t, s), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := r.LeaderValue(ctx, "sio/session/kept"); err != nil || string(v[len(v)-7:]) != `{"a":1}` {
			t.Fatalf("server %d: the leader's value of kept is %q (%v), want it ending in {\"a\":1}", i, v, err)
		}
		if rec, err := r.Get(ctx, "sio/session/kept"); err != nil || string(rec.Value) != `{"a":1}` {
			t.Fatalf("server %d: Get(kept) = %q, %v", i, rec.Value, err)
		}
		for _, key := range []string{"sio/session/deleted", "sio/session/never"} {
			if v, err := r.LeaderValue(ctx, key); err != nil || v != nil {
				t.Fatalf("server %d: the leader's value of %s is %q (%v), want none", i, key, v, err)
			}
			if _, err := r.Get(ctx, key); !errors.Is(err, broker.ErrNotFound) {
				t.Fatalf("server %d: Get(%s) = %v, want ErrNotFound", i, key, err)
			}
		}
		r.Close()
	}
	// The server removes the expired record (its TTL is a second) and
	// leaves a marker in its place: nothing either.
	for {
		v, err := st.LeaderValue(ctx, "sio/session/ttl")
		if err != nil {
			t.Fatal(err)
		}
		if v == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the record with a TTL of 1s was not removed")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := st.Get(ctx, "sio/session/ttl"); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("Get(ttl) after its removal = %v, want ErrNotFound", err)
	}
}
