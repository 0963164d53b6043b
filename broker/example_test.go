package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
)

var jsonUnmarshal = json.Unmarshal

// A subscriber that reconnects from its last position gets exactly what it
// missed, then live events.
func Example() {
	log := brokertest.NewMemLog()
	b := broker.New(log, broker.Config{})
	defer log.Close()
	defer b.Close()
	ctx := context.Background()

	b.Publish(ctx, broker.Message{Room: "chat", Type: "msg", Data: json.RawMessage(`{"text":"hello"}`), From: "alice"})
	sub, _ := b.Subscribe(ctx, []string{"chat"}, broker.Position{})
	evs, _ := sub.Next(ctx, 0)
	fmt.Println(evs[0].Offset, evs[0].From, string(evs[0].Data))
	last := sub.Position()
	sub.Close()

	// Offline: two more events.
	b.Publish(ctx, broker.Message{Room: "chat", Type: "msg", Data: json.RawMessage(`{"text":"you there?"}`), From: "bob"})
	b.Publish(ctx, broker.Message{Room: "chat", Type: "msg", Data: json.RawMessage(`{"text":"ping"}`), From: "bob"})

	sub, _ = b.Subscribe(ctx, []string{"chat"}, last)
	defer sub.Close()
	evs, _ = sub.Next(ctx, 0)
	for _, ev := range evs {
		fmt.Println(ev.Offset, ev.From, string(ev.Data))
	}
	fmt.Println("recovered:", sub.Reset() == nil)
	// Output:
	// 1 alice {"text":"hello"}
	// 2 bob {"text":"you there?"}
	// 3 bob {"text":"ping"}
	// recovered: true
}

// State beside the log: a record about a client (here a read position) is
// committed with the writer's group commit, takes no offset, and is looked
// up by key.
func ExampleBroker_PutState() {
	log := brokertest.NewMemLog() // a StateLog: records share the events' transactions
	b := broker.New(log, broker.Config{})
	defer log.Close()
	defer b.Close()
	ctx := context.Background()

	if err := b.PutState(ctx,
		broker.Record{Key: "read/chat/alice", Value: []byte("41")},
		broker.Record{Key: "read/chat/bob", Value: []byte("40"), Expires: time.Now().Add(time.Hour)},
	); err != nil {
		fmt.Println(err)
	}
	r, _ := b.GetState(ctx, "read/chat/alice")
	fmt.Println(r.Key, string(r.Value))
	_, err := b.GetState(ctx, "read/chat/carol")
	fmt.Println(errors.Is(err, broker.ErrNotFound))
	b.ScanState(ctx, "read/chat/", func(r broker.Record) bool {
		fmt.Println(r.Key, string(r.Value), !r.Expires.IsZero())
		return true
	})
	ev, _ := b.Publish(ctx, broker.Message{Room: "chat", Type: "msg", Data: json.RawMessage(`{}`)})
	fmt.Println("first offset:", ev.Offset)
	// Output:
	// read/chat/alice 41
	// true
	// read/chat/alice 41 false
	// read/chat/bob 40 true
	// first offset: 1
}
