package broker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
)

// TestHistoryStart: the start of a room's last n events, and a
// subscription from it reads exactly them, then live.
func TestHistoryStart(t *testing.T) {
	b, _ := newBroker(t, broker.Config{})
	// a: offsets 1, 3, 5, 7; b: 2, 4, 6.
	for i := range 7 {
		room := "a"
		if i%2 == 1 {
			room = "b"
		}
		mustPublish(t, b, msg(room, "t", i))
	}
	tests := []struct {
		name      string
		room      string
		n         int
		upto      uint64
		wantStart uint64
		wantOK    bool
	}{
		{name: "last two of a", room: "a", n: 2, wantStart: 4, wantOK: true},
		{name: "more than the room has", room: "a", n: 100, wantStart: 0, wantOK: true},
		{name: "last one of b up to offset 5", room: "b", n: 1, upto: 5, wantStart: 3, wantOK: true},
		{name: "empty room", room: "c", n: 3, wantOK: false},
		{name: "nothing up to upto", room: "b", n: 3, upto: 1, wantOK: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start, ok, err := b.HistoryStart(context.Background(), tc.room, tc.n, tc.upto)
			if err != nil || ok != tc.wantOK || ok && start != tc.wantStart {
				t.Fatalf("HistoryStart = %d, %v, %v; want %d, %v", start, ok, err, tc.wantStart, tc.wantOK)
			}
		})
	}
	t.Run("a subscription from it reads the last n, then live", func(t *testing.T) {
		start, _, _ := b.HistoryStart(context.Background(), "a", 2, 0)
		s := mustSubscribe(t, b, []string{"a"}, broker.Position{Offset: start})
		mustPublish(t, b, msg("a", "t", "live"))
		if got := offsets(nextN(t, s, 3)); len(got) != 3 || got[0] != 5 || got[1] != 7 || got[2] != 8 {
			t.Fatalf("read %v, want [5 7 8]", got)
		}
	})
	t.Run("n must be positive", func(t *testing.T) {
		if _, _, err := b.HistoryStart(context.Background(), "a", 0, 0); !errors.Is(err, broker.ErrInvalid) {
			t.Fatalf("n=0: %v, want ErrInvalid", err)
		}
	})
}
