package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
)

// downLog is a followLog whose log cannot tell its last offset: its
// cluster lost quorum.
type downLog struct{ *followLog }

func (downLog) LastOffset(context.Context) (uint64, error) {
	return 0, fmt.Errorf("stream has no leader: %w", broker.ErrUnavailable)
}

// TestHistoryWhenTheLogCannotTellItsHead: a Follower whose log answers
// LastOffset with ErrUnavailable (no quorum) still serves History from
// what it has, instead of failing every read.
func TestHistoryWhenTheLogCannotTellItsHead(t *testing.T) {
	store := brokertest.NewMemStore()
	ctx := context.Background()
	b := broker.New(downLog{&followLog{MemLog: store.Open()}}, broker.Config{})
	defer b.Close()
	for i := range 3 {
		if _, err := b.Publish(ctx, broker.Message{Room: "r", Type: "t", Data: json.RawMessage(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := b.History(ctx, "r", 0, 10)
	if err != nil || len(res.Events) != 3 {
		t.Fatalf("History = %d events, %v; want the 3 events", len(res.Events), err)
	}
	if _, err := b.HistoryBefore(ctx, "r", 0, 10); err != nil {
		t.Fatalf("HistoryBefore: %v", err)
	}
}

// TestHeadAtLeastWhenTheLogCannotTellItsHead: a position another node
// committed, brought to a Follower whose log cannot tell its last offset
// (a leader being elected), is waited for in the tail, not taken for a
// position beyond the head.
func TestHeadAtLeastWhenTheLogCannotTellItsHead(t *testing.T) {
	store := brokertest.NewMemStore()
	ctx := context.Background()
	other := broker.New(store.Open(), broker.Config{})
	defer other.Close()
	me := broker.New(downLog{&followLog{MemLog: store.Open()}}, broker.Config{})
	defer me.Close()
	last := publishThree(t, other)
	if !me.HeadAtLeast(ctx, last.Offset) {
		t.Fatalf("HeadAtLeast(%d) = false, want true once the tail has it", last.Offset)
	}
}

// TestWaitHead: a position a Follower has is reached; one past the log's
// last event is invalid; one the log committed but this node's tail does
// not get within the wait (its delivery held), or one the log cannot
// tell about (no quorum), is unavailable: the caller may ask again.
func TestWaitHead(t *testing.T) {
	store := brokertest.NewMemStore()
	ctx := context.Background()
	other := broker.New(store.Open(), broker.Config{})
	defer other.Close()
	held := &followLog{MemLog: store.Open(), hold: make(chan struct{})}
	me := broker.New(held, broker.Config{})
	defer me.Close()
	down := broker.New(downLog{&followLog{MemLog: store.Open()}}, broker.Config{})
	defer down.Close()
	last := publishThree(t, other)
	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		t.Cleanup(cancel)
		return c
	}
	if err := me.WaitHead(short(), last.Offset); !errors.Is(err, broker.ErrUnavailable) {
		t.Errorf("WaitHead(%d) with the tail held = %v, want ErrUnavailable", last.Offset, err)
	}
	if err := me.WaitHead(short(), last.Offset+1); !errors.Is(err, broker.ErrInvalid) {
		t.Errorf("WaitHead(%d), past the log's last event = %v, want ErrInvalid", last.Offset+1, err)
	}
	if err := down.WaitHead(short(), last.Offset+1); !errors.Is(err, broker.ErrUnavailable) {
		t.Errorf("WaitHead(%d) while the log cannot tell = %v, want ErrUnavailable", last.Offset+1, err)
	}
	close(held.hold)
	if err := me.WaitHead(ctx, last.Offset); err != nil {
		t.Errorf("WaitHead(%d) once the tail has it = %v", last.Offset, err)
	}
	if err := down.WaitHead(ctx, last.Offset); err != nil {
		t.Errorf("WaitHead(%d) on a node that has it while the log cannot tell = %v", last.Offset, err)
	}
	alone := broker.New(store.Open(), broker.Config{})
	defer alone.Close()
	if err := alone.WaitHead(ctx, last.Offset+1); !errors.Is(err, broker.ErrInvalid) {
		t.Errorf("WaitHead past the head of a log of one node = %v, want ErrInvalid", err)
	}
}
