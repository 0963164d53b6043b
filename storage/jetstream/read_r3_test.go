package jetstream_test

import (
	"context"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/storage/jetstream"
)

// TestReadR3 reads rooms of a replicated stream through each server: the
// reads that end below their limit ask the stream leader for what a
// replica may not have stored yet, and the answer is every event of the
// room once, in order, whichever server the client is connected to.
func TestReadR3(t *testing.T) {
	servers := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l := settled(t, ctx, func() (*jetstream.Log, error) {
		return jetstream.Open(ctx, connect(t, servers[0]), jetstream.Config{Stream: "R3READ", Subject: "r3read", Replicas: 3})
	})
	defer l.Close()
	var want []uint64
	for i := range 31 { // the last is b's: a read of a ends below the head
		room := "a"
		if i%3 == 0 {
			room = "b"
		}
		evs, err := l.Append(ctx, []broker.Entry{benchEntry(room)})
		if err != nil {
			t.Fatal(err)
		}
		if room == "a" {
			want = append(want, evs[0].Offset)
		}
	}
	for i, s := range servers {
		r, err := jetstream.Open(ctx, connect(t, s), jetstream.Config{Stream: "R3READ", Subject: "r3read", Replicas: 3})
		if err != nil {
			t.Fatal(err)
		}
		if r.Head() < want[len(want)-1] {
			t.Fatalf("server %d: head %d below the last append %d", i, r.Head(), want[len(want)-1])
		}
		for k, off := range want {
			if got, err := r.LeaderNext(ctx, "a", off); err != nil || got != off {
				t.Fatalf("server %d: the leader's next of a at %d is %d (%v), want %d", i, off, got, err, off)
			}
			if k > 0 {
				if got, err := r.LeaderNext(ctx, "a", want[k-1]+1); err != nil || got != off {
					t.Fatalf("server %d: the leader's next of a after %d is %d (%v), want %d", i, want[k-1], got, err, off)
				}
			}
		}
		if got, err := r.LeaderNext(ctx, "a", want[len(want)-1]+1); err != nil || got != 0 {
			t.Fatalf("server %d: the leader's next of a after its last is %d (%v), want none", i, got, err)
		}
		for _, limit := range []int{5, 100} {
			var got []uint64
			for after := uint64(0); ; {
				res, err := r.Read(ctx, []string{"a"}, after, limit)
				if err != nil {
					t.Fatalf("server %d: %v", i, err)
				}
				for _, ev := range res.Events {
					got = append(got, ev.Offset)
				}
				if len(res.Events) == 0 {
					break
				}
				after = res.Through
			}
			if len(got) != len(want) {
				t.Fatalf("server %d, limit %d: read %v, want %v", i, limit, got, want)
			}
			for j := range want {
				if got[j] != want[j] {
					t.Fatalf("server %d, limit %d: read %v, want %v", i, limit, got, want)
				}
			}
		}
		r.Close()
	}
}

// TestReadMeetsTrim: a trim that purges a room between the moment a Read
// starts and the moment it reads that room is reported by that Read
// (Trimmed), and the Read returns none of the trimmed events: the
// watermark is looked at after the room is read (Trim raises it before it
// purges).
func TestReadMeetsTrim(t *testing.T) {
	ctx := context.Background()
	l := mustOpen(t, connect(t, startServer(t)), jetstream.Config{})
	for range 5 {
		if _, err := l.Append(ctx, []broker.Entry{entry("t", "")}); err != nil {
			t.Fatal(err)
		}
	}
	trims := 0
	l.SetBeforeRoomRead(func(string) {
		if trims++; trims == 1 {
			if n, err := l.Trim(ctx, broker.Retention{MaxCount: 2}, time.Now()); err != nil || n != 3 {
				t.Errorf("trim = %d, %v", n, err)
			}
		}
	})
	res, err := l.Read(ctx, []string{"t"}, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var offs []uint64
	for _, ev := range res.Events {
		offs = append(offs, ev.Offset)
	}
	if res.Trimmed != 3 || len(offs) != 2 || offs[0] != 4 || offs[1] != 5 {
		t.Fatalf("read from 0 across a trim: events %v, trimmed %d; want [4 5], trimmed 3", offs, res.Trimmed)
	}
}
