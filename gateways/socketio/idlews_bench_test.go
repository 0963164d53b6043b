package socketio_test

import (
	"bytes"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"
)

// BenchmarkIdleWebSocketSession measures what an idle Socket.IO socket on
// the WebSocket transport costs the process, as rtbench's idle scenario
// opens it: each client opens a WebSocket directly
// (transport=websocket), connects to the main namespace and joins one
// room (acked), then stays silent. The server is set up as the command
// sets it up (the engine's Listener, presence). B/conn is heap and stacks
// in use after a forced collection, server side plus the client's bare
// net.Conn, per socket; B/conn-noGC the same without the collection;
// heap-B/conn the live heap (HeapAlloc) after the collection. n is
// RTBROKER_IDLE_WS (default 2000; spread over 127.0.0.2…, at most 2,000
// per address). With RTBROKER_IDLE_HEAPPROFILE=FILE a heap profile is
// written to FILE while the sockets are open (run with -memprofilerate 1
// to see every object: go tool pprof -sample_index=inuse_space FILE).
//
// The bare case sends only the WebSocket handshake's headers, as rtbench
// does; the browser case adds those Chromium sends with it (User-Agent,
// Origin, Accept-*, Cache-Control, a cookie), which a production server
// sees on every socket.
//
//	go test -run '^$' -bench BenchmarkIdleWebSocketSession -benchtime 1x ./gateways/socketio
func BenchmarkIdleWebSocketSession(b *testing.B) {
	b.Run("client=bare", func(b *testing.B) { benchIdleWebSocket(b, "") })
	b.Run("client=browser", func(b *testing.B) { benchIdleWebSocket(b, browserHeaders) })
}

// browserHeaders are the headers Chromium sends with a WebSocket
// handshake besides the handshake's own.
const browserHeaders = "Pragma: no-cache\r\nCache-Control: no-cache\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n" +
	"Origin: http://x\r\nAccept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\n" +
	"Cookie: theme=dark; _ga=GA1.1.123456789.1700000000\r\n" +
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"

func benchIdleWebSocket(b *testing.B, headers string) {
	n := 2000
	if s := os.Getenv("RTBROKER_IDLE_WS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		n = v
	}
	for b.Loop() {
		gw := startGatewayRequeue(b)
		before, heap0, gs0 := idleMem(true)
		conns := make([]net.Conn, 0, n)
		buf := make([]byte, 4096)
		for i := range n {
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i/2000))}}
			c, err := d.Dial("tcp", gw.addr)
			if err != nil {
				b.Fatal(err)
			}
			req := "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + headers + "\r\n"
			if _, err := io.WriteString(c, req); err != nil {
				b.Fatal(err)
			}
			readUntil(b, c, buf, `"maxPayload":`)
			writeWSText(b, c, "40")
			readUntil(b, c, buf, `40{"sid":`)
			writeWSText(b, c, `420["room:join",{"room":"idle"}]`)
			readUntil(b, c, buf, `430[{"ok":true`)
			conns = append(conns, c)
		}
		noGC, _, _ := idleMem(false)
		after, heap1, gs1 := idleMem(true)
		b.ReportMetric((float64(after)-float64(before))/float64(n), "B/conn")
		b.ReportMetric((float64(noGC)-float64(before))/float64(n), "B/conn-noGC")
		b.ReportMetric((float64(heap1)-float64(heap0))/float64(n), "heap-B/conn")
		b.ReportMetric(float64(gs1-gs0)/float64(n), "goroutines/conn")
		if p := os.Getenv("RTBROKER_IDLE_HEAPPROFILE"); p != "" {
			writeHeapProfile(b, p)
		}
		for _, c := range conns {
			c.Close()
		}
		gw.stop()
	}
}

// idleMem waits for the server to settle and returns the heap and stacks
// in use, the live heap and the number of goroutines (after two
// collections with gc).
func idleMem(gc bool) (inuse, heap uint64, goroutines int) {
	time.Sleep(500 * time.Millisecond)
	if gc {
		runtime.GC()
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse, m.HeapAlloc, runtime.NumGoroutine()
}

// readUntil reads from c until what was read contains want.
func readUntil(b *testing.B, c net.Conn, buf []byte, want string) {
	got := 0
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !bytes.Contains(buf[:got], []byte(want)) {
		if got == len(buf) {
			b.Fatalf("no %q in %q", want, buf[:got])
		}
		m, err := c.Read(buf[got:])
		if err != nil {
			b.Fatalf("waiting for %q (read %q): %v", want, buf[:got], err)
		}
		got += m
	}
	c.SetReadDeadline(time.Time{})
}

// writeWSText writes s (under 126 bytes) as one masked text frame; the
// mask is zero, so the payload goes as is.
func writeWSText(b *testing.B, c net.Conn, s string) {
	frame := append([]byte{0x81, 0x80 | byte(len(s)), 0, 0, 0, 0}, s...)
	if _, err := c.Write(frame); err != nil {
		b.Fatal(err)
	}
}

// writeHeapProfile writes the heap profile (as of the last collection) to
// path.
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}
