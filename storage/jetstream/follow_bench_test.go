package jetstream_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/storage/jetstream"
)

// BenchmarkFollowLatency publishes one event at a time on a broker and
// waits for a subscriber of the room to receive it, on the same node
// ("local": the broker's own commit) and on another node on the same
// stream ("cross": the other node's follower). It reports the p50 and p99
// of publish-to-receive in microseconds; the figures depend on the
// machine's load (no test asserts on them).
func BenchmarkFollowLatency(b *testing.B) {
	for _, tc := range []struct {
		name  string
		cross bool
	}{{"local", false}, {"cross", true}} {
		b.Run(tc.name, func(b *testing.B) {
			s := startServer(b)
			open := func() *broker.Broker {
				l, err := jetstream.Open(context.Background(), connect(b, s), jetstream.Config{})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = l.Close() })
				br := broker.New(l, broker.Config{})
				b.Cleanup(func() { _ = br.Close() })
				return br
			}
			pub := open()
			recv := pub
			if tc.cross {
				recv = open()
			}
			ctx := context.Background()
			sub, err := recv.Subscribe(ctx, []string{"lat"}, recv.Head())
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Close()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				if _, err := pub.Publish(ctx, broker.Message{Room: "lat", Type: "t", Data: json.RawMessage(`1`)}); err != nil {
					b.Fatal(err)
				}
				if _, err := sub.Next(ctx, 1); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
