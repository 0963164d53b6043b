package engineio_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
)

// BenchmarkIdlePolling measures what an idle polling session costs the
// process while its GET is held (heap and stacks, server side plus a bare
// net.Conn per client), with and without a forced collection, and the
// goroutines per session. Each client opens its session on one
// connection, closes it, and holds a GET on a second one: the bytes are
// the session's and its held GET's, not those of an idle keep-alive
// connection for POSTs. n is RTBROKER_IDLE_POLLS (default 2000; clients
// spread over 127.0.0.2…, at most 2,000 per address).
//
//	go test -run '^$' -bench BenchmarkIdlePolling -benchtime 1x ./gateways/socketio/engineio
func BenchmarkIdlePolling(b *testing.B) {
	n := 2000
	if s := os.Getenv("RTBROKER_IDLE_POLLS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		n = v
	}
	sidRE := regexp.MustCompile(`"sid":"([^"]+)"`)
	for b.Loop() {
		eng := engineio.NewServer(engineio.Config{PingInterval: time.Hour, PingTimeout: time.Hour}, nil)
		ts := httptest.NewServer(eng)
		addr := ts.Listener.Addr().String()
		settle := func(gc bool) (uint64, int) {
			time.Sleep(500 * time.Millisecond)
			if gc {
				runtime.GC()
				runtime.GC()
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return m.HeapInuse + m.StackInuse, runtime.NumGoroutine()
		}
		before, gs0 := settle(true)
		conns := make([]net.Conn, 0, n)
		for i := range n {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i/2000))}}
			hc, err := d.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.WriteString(hc, "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
				b.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(hc), nil)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			hc.Close()
			m := sidRE.FindSubmatch(body)
			if m == nil {
				b.Fatalf("handshake %s", body)
			}
			c, err := d.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.WriteString(c, "GET /engine.io/?EIO=4&transport=polling&sid="+string(m[1])+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		for eng.Len() < n {
			time.Sleep(time.Millisecond)
		}
		noGC, _ := settle(false)
		after, gs1 := settle(true)
		b.ReportMetric((float64(after)-float64(before))/float64(n), "B/conn")
		b.ReportMetric((float64(noGC)-float64(before))/float64(n), "B/conn-noGC")
		b.ReportMetric(float64(gs1-gs0)/float64(n), "goroutines/conn")
		for _, c := range conns {
			c.Close()
		}
		ts.Close()
		eng.Close()
	}
}
