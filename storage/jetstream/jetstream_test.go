package jetstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/storage/jetstream"
)

func entry(room, key string) broker.Entry {
	return broker.Entry{ID: ulid.Make(), Room: room, Type: "t", Data: json.RawMessage(`1`), Time: time.Now(), IdempotencyKey: key}
}

func mustOpen(t *testing.T, nc *nats.Conn, cfg jetstream.Config) *jetstream.Log {
	t.Helper()
	l, err := jetstream.Open(context.Background(), nc, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// TestEpochOfRecreatedStream checks that the epoch belongs to the stream:
// reopening keeps it, deleting and recreating the stream changes it, and
// the recreated log forgets the old one's watermarks and keys.
func TestEpochOfRecreatedStream(t *testing.T) {
	s := startServer(t)
	nc := connect(t, s)
	ctx := context.Background()
	l := mustOpen(t, nc, jetstream.Config{})
	if _, err := l.Append(ctx, []broker.Entry{entry("a", "k"), entry("a", ""), entry("a", "")}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Trim(ctx, broker.Retention{MaxCount: 1}, time.Now()); err != nil {
		t.Fatal(err)
	}
	epoch := l.Epoch()
	_ = l.Close()
	if got := mustOpen(t, nc, jetstream.Config{}).Epoch(); got != epoch {
		t.Fatalf("reopened epoch %q, want %q", got, epoch)
	}
	js, _ := njs.New(nc)
	if err := js.DeleteStream(ctx, jetstream.DefaultStream); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, nc, jetstream.Config{})
	if l.Epoch() == epoch {
		t.Fatalf("recreated stream kept the epoch %q", epoch)
	}
	res, err := l.Read(ctx, []string{"a"}, 0, 10)
	if err != nil || res.Trimmed != 0 || len(res.Events) != 0 {
		t.Fatalf("Read of the new stream = %+v, %v; want nothing, nothing trimmed", res, err)
	}
	evs, err := l.Append(ctx, []broker.Entry{entry("a", "k")})
	if err != nil || evs[0].Offset != 1 {
		t.Fatalf("keyed append to the new stream = %v, %v; want a new event at 1", evs, err)
	}
}

// TestOpenRefusesForeignStream checks that a stream rtbroker did not
// create is not used.
func TestOpenRefusesForeignStream(t *testing.T) {
	s := startServer(t)
	nc := connect(t, s)
	js, _ := njs.New(nc)
	if _, err := js.CreateStream(context.Background(), njs.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	_, err := jetstream.Open(context.Background(), nc, jetstream.Config{Stream: "OTHER", Subject: "other"})
	if err == nil || !strings.Contains(err.Error(), "not created by rtbroker") {
		t.Fatalf("Open of a foreign stream: %v", err)
	}
}

// TestMsgIDDeduplication checks the server's de-duplication window (the
// stream's Duplicates): when an idempotency record is missing (the node
// died between the commit and writing it, or another node raced), a
// single retried entry still returns the original, and a batch holding
// the repeat is refused whole.
func TestMsgIDDeduplication(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	a := mustOpen(t, connect(t, s), jetstream.Config{Duplicates: time.Minute})
	b := mustOpen(t, connect(t, s), jetstream.Config{Duplicates: time.Minute})
	first, err := a.Append(ctx, []broker.Entry{entry("room.1", "k")})
	if err != nil {
		t.Fatal(err)
	}
	forget := func() {
		t.Helper()
		js, _ := njs.New(connect(t, s))
		kv, err := js.KeyValue(ctx, jetstream.DefaultStream+"_meta")
		if err == nil {
			err = kv.Purge(ctx, "i."+jetstream.RoomToken("room.1")+".aw") // base64url("k")
		}
		if err != nil {
			t.Fatalf("forget the record: %v", err)
		}
	}
	forget()
	tests := []struct {
		name    string
		entries []broker.Entry
		wantErr bool
	}{
		{"single retry returns the original", []broker.Entry{entry("room.1", "k")}, false},
		{"batch with the repeat commits nothing", []broker.Entry{entry("room.1", ""), entry("room.1", "k")}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			head := b.Head()
			evs, err := b.Append(ctx, tc.entries)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Append = %v, want an error", evs)
				}
				res, err := a.Read(ctx, []string{"room.1"}, 0, 10) // b's head has not seen a's event
				if err != nil || len(res.Events) != 1 {
					t.Fatalf("room holds %d events (%v), want the first only", len(res.Events), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if evs[0].ID != first[0].ID || evs[0].Offset != first[0].Offset {
				t.Fatalf("retry = %+v, want the original %+v", evs[0], first[0])
			}
			if b.Head() != head {
				t.Fatalf("Head moved from %d to %d", head, b.Head())
			}
		})
	}
}

// TestStateTTL checks that a record with an expiry is stored with a
// per-message TTL of the time left plus the grace, and one without has
// none.
func TestStateTTL(t *testing.T) {
	s := startServer(t)
	nc := connect(t, s)
	ctx := context.Background()
	st, err := jetstream.OpenState(ctx, nc, jetstream.StateConfig{Grace: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	exp := time.Now().Add(time.Hour)
	if err := st.Put(ctx, []broker.Record{
		{Key: "sio/session:a", Value: []byte("x"), Expires: exp},
		{Key: "forever", Value: []byte("y")},
	}); err != nil {
		t.Fatal(err)
	}
	js, _ := njs.New(nc)
	stream, err := js.Stream(ctx, "KV_"+jetstream.DefaultStateBucket)
	if err != nil {
		t.Fatal(err)
	}
	if !stream.CachedInfo().Config.AllowMsgTTL {
		t.Error("the bucket's stream does not allow per-message TTLs")
	}
	tests := []struct {
		key     string
		wantTTL string
	}{
		{"sio/session:a", "3610s"},
		{"forever", ""},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			m, err := stream.GetLastMsgForSubject(ctx, "$KV."+jetstream.DefaultStateBucket+"."+jetstream.RoomToken(tc.key))
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Header.Get(njs.MsgTTLHeader); got != tc.wantTTL {
				t.Fatalf("Nats-TTL = %q, want %q", got, tc.wantTTL)
			}
		})
	}
	if _, err := st.Get(ctx, "nope"); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("Get of a missing key: %v", err)
	}
}
