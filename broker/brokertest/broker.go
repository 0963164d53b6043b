package brokertest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
)

// NewBroker returns a real broker on a new in-memory log, for gateway
// tests. The test's cleanup closes the broker, then the log (register
// cleanups that must run before, such as closing a gateway, after calling
// NewBroker: cleanups run last-in first-out).
func NewBroker(t testing.TB, cfg broker.Config) (*broker.Broker, *MemLog) {
	t.Helper()
	l := NewMemLog()
	b := broker.New(l, cfg)
	t.Cleanup(func() { l.Close() })
	t.Cleanup(func() { b.Close() })
	return b, l
}

// Publish commits one event per type to room, with data {"t": type}, and
// returns them; it fails the test on error.
func Publish(t testing.TB, b *broker.Broker, room string, types ...string) []*broker.Event {
	t.Helper()
	out := make([]*broker.Event, 0, len(types))
	for _, typ := range types {
		ev, err := b.Publish(context.Background(), broker.Message{Room: room, Type: typ, Data: json.RawMessage(fmt.Sprintf(`{"t":%q}`, typ))})
		if err != nil {
			t.Fatalf("publish %s/%s: %v", room, typ, err)
		}
		out = append(out, ev)
	}
	return out
}
