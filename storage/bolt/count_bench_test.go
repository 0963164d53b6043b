package bolt

import (
	"context"
	"testing"
)

// BenchmarkCountAfter measures an unread count on a room of 100,000
// indexed events (interleaved with another room's): from below the
// earliest event (answered by the room metadata), and from a position
// with 1,000 and 10,000 events after it (a walk of the room index, capped
// at limit; no event is read).
func BenchmarkCountAfter(b *testing.B) {
	l := benchLog(b)
	ctx := context.Background()
	for range 100 {
		batch := append(benchEntries(1000, "chat:a", 64), benchEntries(1000, "chat:b", 64)...)
		if _, err := l.Append(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.applyFirst(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	head := l.Head()
	for _, bc := range []struct {
		name   string
		after  uint64
		limit  int
		unread int
	}{
		{"below-first", 0, 10001, 10001},
		{"unread=1000", head - 2000, 10001, 1000},
		{"unread=10000", head - 20000, 10001, 10000},
		{"capped/unread=50000", head - 100000, 10001, 10001},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n, err := l.CountAfter(ctx, "chat:b", bc.after, bc.limit)
				if err != nil || n != bc.unread {
					b.Fatalf("CountAfter = %d, %v; want %d", n, err, bc.unread)
				}
			}
		})
	}
}
