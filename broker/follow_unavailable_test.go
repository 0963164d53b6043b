package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

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
	var last *broker.Event
	for i := range 3 {
		ev, err := other.Publish(ctx, broker.Message{Room: "r", Type: "t", Data: json.RawMessage(fmt.Sprint(i))})
		if err != nil {
			t.Fatal(err)
		}
		last = ev
	}
	if !me.HeadAtLeast(ctx, last.Offset) {
		t.Fatalf("HeadAtLeast(%d) = false, want true once the tail has it", last.Offset)
	}
}
