package longpoll

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
)

// BenchmarkIdlePoll measures what a held poll costs the server: it opens
// n TCP connections (raw, so the client side costs a socket and nothing
// else), sends each a poll that will be held, lets them settle and
// reports the memory in use (heap and goroutine stacks) and the goroutines per held poll, with and
// without a forced collection. n is RTBROKER_IDLE_POLLS (default 2000;
// clients are spread over 127.0.0.2… at most 2,000 per address).
//
//	go test -run '^$' -bench BenchmarkIdlePoll -benchtime 1x ./gateways/longpoll
func BenchmarkIdlePoll(b *testing.B) {
	n := 2000
	if s := os.Getenv("RTBROKER_IDLE_POLLS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		n = v
	}
	for range b.N {
		measureIdle(b, n)
	}
}

func measureIdle(b *testing.B, n int) {
	e := newEnv(b, broker.Config{}, Config{})
	addr := e.srv.Listener.Addr().(*net.TCPAddr)
	settle := func(gc bool) (heap uint64, gs int) {
		time.Sleep(500 * time.Millisecond)
		if gc {
			runtime.GC()
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse + ms.StackInuse, runtime.NumGoroutine()
	}
	heap0, gs0 := settle(true)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	req := []byte("GET /poll?room=idle&timeout=60s HTTP/1.1\r\nHost: " + addr.String() + "\r\nUser-Agent: idle\r\n\r\n")
	for i := range n {
		src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i/2000))}
		d := net.Dialer{LocalAddr: src}
		c, err := d.Dial("tcp", addr.String())
		if err != nil {
			b.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for e.h.Connections().Len() < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d polls held, want %d", e.h.Connections().Len(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	heapNoGC, gsNoGC := settle(false)
	heap1, gs1 := settle(true)
	per := func(h uint64) float64 { return (float64(h) - float64(heap0)) / float64(n) }
	b.ReportMetric(per(heap1), "B/conn")
	b.ReportMetric(per(heapNoGC), "B/conn-noGC")
	b.ReportMetric(float64(gs1-gs0)/float64(n), "goroutines/conn")
	_ = gsNoGC

	// Each poll is still answered: one event releases them all.
	e.publish(b, "idle", "wake")
	for i, c := range conns[:min(n, 50)] {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := readResponse(c)
		if err != nil {
			b.Fatalf("conn %d: %v", i, err)
		}
		if resp != 200 {
			b.Fatalf("conn %d: status %d", i, resp)
		}
	}
}

func readResponse(c net.Conn) (int, error) {
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return 0, err
	}
	var code int
	if _, err := fmt.Sscanf(line, "HTTP/1.1 %d", &code); err != nil {
		return 0, fmt.Errorf("status line %q: %w", line, err)
	}
	return code, nil
}
