package jetstream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/storage/jetstream"
)

func benchLog(b *testing.B) *jetstream.Log {
	b.Helper()
	s := startServer(b)
	l, err := jetstream.Open(context.Background(), connect(b, s), jetstream.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	return l
}

func benchEntry(room string) broker.Entry {
	return broker.Entry{ID: ulid.Make(), Room: room, Type: "chat:message", Data: json.RawMessage(`{"text":"hello, world"}`), Time: time.Now(), From: "bench"}
}

// BenchmarkAppendConcurrent measures acknowledged appends of one event
// each from many goroutines on one connection: their publishes are in
// flight together, each waits for its own acknowledgement.
func BenchmarkAppendConcurrent(b *testing.B) {
	for _, publishers := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) {
			l := benchLog(b)
			b.SetParallelism(publishers) // × GOMAXPROCS goroutines
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if _, err := l.Append(ctx, []broker.Entry{benchEntry("room")}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkBrokerPublish measures Broker.Publish from many goroutines over
// the JetStream log: the broker's group commit turns concurrent publishes
// into one Append, that is one atomic batch and one acknowledgement.
func BenchmarkBrokerPublish(b *testing.B) {
	for _, publishers := range []int{16, 128} {
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) {
			br := broker.New(benchLog(b), broker.Config{})
			b.Cleanup(func() { br.Close() })
			b.SetParallelism(publishers)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				m := broker.Message{Room: "room", Type: "chat:message", Data: json.RawMessage(`{"text":"hello, world"}`), From: "bench"}
				for pb.Next() {
					if _, err := br.Publish(ctx, m); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkRead reads the 10,000 events of one room, interleaved with
// 10,000 of another, from offset 0 in pages of 1,000: one batched direct
// get per page, the other room's messages never read.
func BenchmarkRead(b *testing.B) {
	const perRoom, page = 10_000, 1000
	l := benchLog(b)
	ctx := context.Background()
	for range perRoom / 500 {
		batch := make([]broker.Entry, 0, 1000)
		for range 500 {
			batch = append(batch, benchEntry("room"), benchEntry("other"))
		}
		if _, err := l.Append(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		var after uint64
		n := 0
		for {
			res, err := l.Read(ctx, []string{"room"}, after, page)
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Events) == 0 {
				break
			}
			n += len(res.Events)
			after = res.Through
		}
		if n != perRoom {
			b.Fatalf("read %d events, want %d", n, perRoom)
		}
	}
	b.ReportMetric(float64(b.N*perRoom)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendBatch measures serial Appends of several entries, each
// one atomic batch: what the broker's group commit sends.
func BenchmarkAppendBatch(b *testing.B) {
	for _, n := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			appendBatches(b, benchLog(b), n)
		})
	}
}

// appendBatches appends batches of n entries to l in a loop.
func appendBatches(b *testing.B, l *jetstream.Log, n int) {
	ctx := context.Background()
	batch := make([]broker.Entry, n)
	for i := range batch {
		batch[i] = benchEntry(fmt.Sprintf("room-%d", i%8))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Append(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}
