package jetstream_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/storage/jetstream"
)

// TestAppendBeyondAtomicBatch checks that an Append larger than the
// server's atomic batch limit is committed as consecutive batches with
// consecutive offsets, with a small configured limit and with the
// server's own (1000).
func TestAppendBeyondAtomicBatch(t *testing.T) {
	tests := []struct {
		name     string
		maxBatch int
		sizes    []int
	}{
		{"limit 4", 4, []int{1, 4, 5, 10, 3}},
		{"server limit", 0, []int{1001, 2500}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t)
			l := mustOpen(t, connect(t, s), jetstream.Config{MaxAtomicBatch: tc.maxBatch})
			ctx := context.Background()
			var next uint64 = 1
			for _, n := range tc.sizes {
				batch := make([]broker.Entry, n)
				for i := range batch {
					batch[i] = entry(fmt.Sprintf("r%d", i%3), "")
				}
				evs, err := l.Append(ctx, batch)
				if err != nil {
					t.Fatalf("Append(%d): %v", n, err)
				}
				for i, ev := range evs {
					if ev.Offset != next || ev.ID != batch[i].ID {
						t.Fatalf("Append(%d): entry %d got offset %d, want %d", n, i, ev.Offset, next)
					}
					next++
				}
			}
			if l.Head() != next-1 {
				t.Fatalf("Head() = %d, want %d", l.Head(), next-1)
			}
			var got uint64
			var after uint64
			for {
				res, err := l.Read(ctx, []string{"r0", "r1", "r2"}, after, 700)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Events) == 0 {
					break
				}
				for _, ev := range res.Events {
					if got++; ev.Offset != got {
						t.Fatalf("read offset %d, want %d", ev.Offset, got)
					}
				}
				after = res.Through
			}
			if got != next-1 {
				t.Fatalf("read %d events, want %d", got, next-1)
			}
		})
	}
}

// TestStatePutBeyondAtomicBatch checks a Put of more records than one
// atomic batch holds.
func TestStatePutBeyondAtomicBatch(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	st, err := jetstream.OpenState(ctx, connect(t, s), jetstream.StateConfig{MaxAtomicBatch: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var recs []broker.Record
	for i := range 10 {
		recs = append(recs, broker.Record{Key: fmt.Sprintf("k/%02d", i), Value: []byte{byte(i)}})
	}
	if err := st.Put(ctx, recs); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := st.Scan(ctx, "k/", func(r broker.Record) bool {
		if r.Key != recs[n].Key || r.Value[0] != byte(n) {
			t.Errorf("record %d = %+v", n, r)
		}
		n++
		return true
	}); err != nil || n != 10 {
		t.Fatalf("Scan found %d records (%v), want 10", n, err)
	}
}
