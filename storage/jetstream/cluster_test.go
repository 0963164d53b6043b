package jetstream_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/rtbroker/rtbroker/storage/jetstream"
)

// freePort returns a loopback port nothing listens on now.
func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startCluster starts a three-node JetStream cluster on loopback and
// returns its servers once they have elected a meta leader.
func startCluster(tb testing.TB) []*server.Server {
	tb.Helper()
	ports := []int{freePort(tb), freePort(tb), freePort(tb)}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	servers := make([]*server.Server, 3)
	for i := range servers {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: tb.TempDir(), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "rtb", Host: "127.0.0.1", Port: ports[i]},
			Routes:  routes,
		})
		if err != nil {
			tb.Fatal(err)
		}
		s.Start()
		tb.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		servers[i] = s
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range servers {
			if s.JetStreamIsLeader() {
				return servers
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatal("no JetStream meta leader within 30s")
	return nil
}

// BenchmarkAppendBatchR3 is BenchmarkAppendBatch on a three-node cluster
// with a replicated (R3) stream: an atomic batch is one replicated
// proposal there, staged in memory.
func BenchmarkAppendBatchR3(b *testing.B) {
	servers := startCluster(b)
	for _, n := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			l := settled(b, ctx, func() (*jetstream.Log, error) {
				return jetstream.Open(ctx, connect(b, servers[0]), jetstream.Config{Stream: fmt.Sprintf("R3B%d", n), Subject: fmt.Sprintf("r3b%d", n), Replicas: 3})
			})
			defer l.Close()
			appendBatches(b, l, n)
		})
	}
}

// settled calls open until it succeeds (a replicated stream's placement
// may need the cluster to settle) and returns what it opened; it fails
// tb when ctx ends first.
func settled[T any](tb testing.TB, ctx context.Context, open func() (T, error)) T {
	tb.Helper()
	for {
		v, err := open()
		if err == nil {
			return v
		}
		if ctx.Err() != nil {
			tb.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
