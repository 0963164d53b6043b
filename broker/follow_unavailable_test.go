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
