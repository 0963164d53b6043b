package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
)

// stallLog is a followLog whose first Follow goes silent and then reports
// a stall (ErrStalled), as storage/jetstream's watchdog does when its
// consumer was lost with its server.
type stallLog struct {
	*followLog
	calls atomic.Int32
}

func (l *stallLog) Follow(ctx context.Context, after uint64, fn func([]*broker.Event)) error {
	if l.calls.Add(1) == 1 {
		return fmt.Errorf("follow: %w: nothing delivered after offset %d", broker.ErrStalled, after)
	}
	return l.followLog.Follow(ctx, after, fn)
}

// records is a slog.Handler that keeps "LEVEL message" lines.
type records struct {
	mu    sync.Mutex
	lines []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, rec.Level.String()+" "+rec.Message)
	return nil
}

// TestFollowerStallIsFollowedAgain: a Follower whose Follow reports a
// stall is followed again from the head, and its subscriber receives every
// event another node published, once, in order; the stall is logged once,
// at WARN, and no error is logged.
func TestFollowerStallIsFollowedAgain(t *testing.T) {
	store := brokertest.NewMemStore()
	ctx := context.Background()
	other := broker.New(store.Open(), broker.Config{})
	defer other.Close()
	var logged records
	me := broker.New(&stallLog{followLog: &followLog{MemLog: store.Open()}}, broker.Config{Logger: slog.New(&logged)})
	defer me.Close()
	sub, err := me.Subscribe(ctx, []string{"r"}, broker.Position{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for i := range 5 {
		if _, err := other.Publish(ctx, broker.Message{Room: "r", Type: "t", Data: json.RawMessage(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	var got []*broker.Event
	for len(got) < 5 {
		evs, err := sub.Next(ctx, 5-len(got))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, evs...)
	}
	for i, ev := range got {
		if string(ev.Data) != fmt.Sprint(i) {
			t.Fatalf("event %d = %s, want %d", i, ev.Data, i)
		}
	}
	logged.mu.Lock()
	defer logged.mu.Unlock()
	warns := 0
	for _, l := range logged.lines {
		switch {
		case strings.HasPrefix(l, "ERROR"):
			t.Errorf("logged %q, want no error for a stall", l)
		case strings.HasPrefix(l, "WARN") && strings.Contains(l, "stalled"):
			warns++
		}
	}
	if warns != 1 {
		t.Errorf("stall WARN records = %d, want 1 (%q)", warns, logged.lines)
	}
}
