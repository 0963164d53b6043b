package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/messages"
	"github.com/rtbroker/rtbroker/storage/bolt"
)

// benchMessages is a Service on a broker on a bbolt file in b.TempDir()
// holding n messages of room "r" (interleaved with as many of room
// "noise"), every `every`-th of them edited (0: none).
func benchMessages(b *testing.B, n, every int) (*messages.Service, *broker.Broker) {
	b.Helper()
	l, err := bolt.Open(filepath.Join(b.TempDir(), dbFile), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	br := broker.New(l, broker.Config{})
	b.Cleanup(func() { br.Close(); l.Close() })
	svc := messages.New(br, messages.Config{})
	ctx := context.Background()
	alice := auth.Identity{Subject: "alice", Rooms: new(auth.All())}
	for i := 0; i < n; i += 100 {
		var msgs []broker.Message
		for j := i; j < min(i+100, n); j++ {
			msgs = append(msgs,
				broker.Message{Room: "r", Type: "chat:message", Data: fmt.Appendf(nil, `{"text":"message %d"}`, j), From: "alice"},
				broker.Message{Room: "noise", Type: "chat:message", Data: json.RawMessage(`{"text":"noise"}`), From: "bob"})
		}
		evs, err := br.PublishBatch(ctx, msgs)
		if err != nil {
			b.Fatal(err)
		}
		for k := 0; every > 0 && k < len(evs); k += 2 {
			if (i+k/2)%every == 0 {
				if _, err := svc.Edit(ctx, alice, "r", messages.Ref{ID: evs[k].ID, Offset: evs[k].Offset}, json.RawMessage(`{"text":"edited"}`)); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	return svc, br
}

// BenchmarkMessagesPage reads pages of 100 messages of the folded view
// from a room of 10,000 on bbolt: one State read per message, no matter
// how many messages were edited.
func BenchmarkMessagesPage(b *testing.B) {
	for _, every := range []int{0, 10, 1} {
		b.Run(fmt.Sprintf("edited=1in%d", every), func(b *testing.B) {
			svc, br := benchMessages(b, 10000, every)
			ctx := context.Background()
			head := br.Head().Offset
			b.ReportAllocs()
			b.ResetTimer()
			after := uint64(0)
			for b.Loop() {
				p, err := svc.Page(ctx, "r", after, 100)
				if err != nil || p.Next <= after {
					b.Fatalf("page after %d: %d messages, %v", after, len(p.Messages), err)
				}
				if after = p.Next; after >= head {
					after = 0
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/message")
		})
	}
}

// BenchmarkHistoryPage is the raw history page BenchmarkMessagesPage
// compares with: 100 events of the same room, no State read.
func BenchmarkHistoryPage(b *testing.B) {
	_, br := benchMessages(b, 10000, 0)
	ctx := context.Background()
	head := br.Head().Offset
	b.ReportAllocs()
	after := uint64(0)
	for b.Loop() {
		res, err := br.History(ctx, "r", after, 100)
		if err != nil || res.Through <= after {
			b.Fatalf("page after %d: %v", after, err)
		}
		if after = res.Through; after >= head {
			after = 0
		}
	}
}

// BenchmarkMessagesEdit edits messages one after another on bbolt: the
// lookup (one index seek, one State read) and one commit (event and record
// in one transaction, one fsync) each.
func BenchmarkMessagesEdit(b *testing.B) {
	svc, br := benchMessages(b, 1000, 0)
	ctx := context.Background()
	res, err := br.History(ctx, "r", 0, 1000)
	if err != nil {
		b.Fatal(err)
	}
	alice := auth.Identity{Subject: "alice", Rooms: new(auth.All())}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev := res.Events[i%len(res.Events)]
		i++
		if _, err := svc.Edit(ctx, alice, "r", messages.Ref{ID: ev.ID, Offset: ev.Offset}, json.RawMessage(`{"text":"edited"}`)); err != nil {
			b.Fatal(err)
		}
	}
}
