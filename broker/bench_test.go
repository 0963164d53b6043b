package broker_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
)

// BenchmarkFanout publishes one event to a room with 10,000 subscribers,
// each its own goroutine reading with Next, and waits until every one of
// them has it.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(strconv.Itoa(n)+"subs", func(b *testing.B) {
			br, _ := newBroker(b, broker.Config{})
			enc := broker.NewEncoder(func(e *broker.Event) []byte { return append([]byte("frame:"), e.JSON()...) })
			var got sync.WaitGroup
			var subs sync.WaitGroup
			ctx := context.Background()
			var all []*broker.Subscription
			for range n {
				s := mustSubscribe(b, br, []string{"room"}, broker.Position{})
				all = append(all, s)
				subs.Go(func() {
					for {
						evs, err := s.Next(ctx, 0)
						if err != nil {
							return
						}
						for _, ev := range evs {
							_ = ev.Encode(enc) // the wire bytes, shared
							got.Done()
						}
					}
				})
			}
			data := json.RawMessage(`{"text":"hello, everyone in the room"}`)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				got.Add(n)
				if _, err := br.Publish(ctx, broker.Message{Room: "room", Type: "msg", Data: data}); err != nil {
					b.Fatal(err)
				}
				got.Wait()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
			for _, s := range all {
				s.Close()
			}
			subs.Wait()
		})
	}
}

// BenchmarkPublish measures the broker's publish path (validation, group
// commit, tail, wake-ups) on the in-memory log, from parallel publishers.
func BenchmarkPublish(b *testing.B) {
	br, _ := newBroker(b, broker.Config{})
	data := json.RawMessage(`{"text":"hello, everyone in the room","n":12345}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := br.Publish(context.Background(), broker.Message{Room: "room", Type: "msg", Data: data}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkEventJSON measures the cached JSON encoding: after the first
// call it is a lookup.
func BenchmarkEventJSON(b *testing.B) {
	br, _ := newBroker(b, broker.Config{})
	ev := mustPublish(b, br, msg("room", "msg", map[string]string{"text": "hello"}))
	b.ReportAllocs()
	for b.Loop() {
		_ = ev.JSON()
	}
}
