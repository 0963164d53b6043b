package broker_test

import (
	"context"
	"encoding/json"
	"fmt"

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
