package presence_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
	"github.com/rtbroker/rtbroker/gateways/presence"
)

// BenchmarkJoinLeave10k: a user joins and leaves a room where 10,000
// members are present, each with a live subscription of the room (every
// one of them is sent the two events). CPU per op covers the registry
// and the fan-out to the 10,000 subscriptions; wire-B/recipient is what
// one other member receives per join+leave (the events' JSON), the same
// at any room size; wire-B/op is that times the 10,000 recipients.
func BenchmarkJoinLeave10k(b *testing.B) { benchJoinLeave(b, true) }

// BenchmarkJoinLeave10kOptIn is BenchmarkJoinLeave10k without
// Config.Events: one of the 10,000 subscriptions asked for presence
// events (Subscription.OptIn), the others did not, and cost the fan-out a
// flag check each; wire-B/op is what the one recipient is sent.
func BenchmarkJoinLeave10kOptIn(b *testing.B) { benchJoinLeave(b, false) }

func benchJoinLeave(b *testing.B, all bool) {
	const members = 10_000
	br, _ := brokertest.NewBroker(b, broker.Config{})
	r := presence.New(br, presence.Config{Events: all})
	defer r.Close()
	ctx := context.Background()
	subs := make([]*broker.Subscription, members)
	for i := range subs {
		s, err := br.Subscribe(ctx, []string{"big"}, br.Head())
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		subs[i] = s
		r.Enter("big", user(fmt.Sprint("member-", i)), presence.SocketIO)
	}
	observer := subs[0]
	observer.OptIn("big", true)
	observer.TryNext(ctx, 1<<20) // the members' own joins
	newcomer := user("newcomer-0123456789")
	var wire int64
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r.Enter("big", newcomer, presence.SSE).Leave()
		evs, err := observer.TryNext(ctx, 16)
		if err != nil || len(evs) != 2 {
			b.Fatalf("observer got %d events (%v)", len(evs), err)
		}
		for _, ev := range evs {
			wire += int64(len(ev.JSON()))
		}
	}
	b.StopTimer()
	per := float64(wire) / float64(b.N)
	b.ReportMetric(per, "wire-B/recipient")
	if all {
		b.ReportMetric(per*members, "wire-B/op")
	} else {
		b.ReportMetric(per, "wire-B/op")
	}
	if snap := r.Snapshot("big"); snap.Count != members || snap.Listed {
		b.Fatalf("snapshot %d listed %v", snap.Count, snap.Listed)
	}
}
