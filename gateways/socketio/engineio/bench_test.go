package engineio_test

import (
	"bytes"
	"io"
	"net"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
)

// BenchmarkBroadcast writes one shared message to n WebSocket sessions
// (real gorilla clients over loopback) from GOMAXPROCS goroutines and
// waits until every client has read it. The message bytes are encoded
// once and never copied.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1000} {
		b.Run(strconv.Itoa(n)+"conns", func(b *testing.B) {
			conns := make(chan *engineio.Conn, n)
			eng := engineio.NewServer(engineio.Config{PingInterval: time.Hour, PingTimeout: time.Hour}, func(c *engineio.Conn) { conns <- c })
			ts := httptest.NewServer(eng)
			defer func() { ts.Close(); eng.Close() }()
			url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/engine.io/?EIO=4&transport=websocket"

			var got sync.WaitGroup
			var readers sync.WaitGroup
			clients := make([]*websocket.Conn, 0, n)
			for range n {
				ws, _, err := websocket.DefaultDialer.Dial(url, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := ws.ReadMessage(); err != nil { // handshake
					b.Fatal(err)
				}
				clients = append(clients, ws)
				readers.Go(func() {
					for {
						if _, _, err := ws.ReadMessage(); err != nil {
							return
						}
						got.Done()
					}
				})
			}
			server := make([]*engineio.Conn, 0, n)
			for range n {
				server = append(server, <-conns)
			}
			msg := []byte(`42["chat:message",{"room":"lobby","text":"hello, everyone in the room"},{"room":"lobby","offset":1234,"id":"01J0000000000000000000000"},"1234"]`)
			// Send writes the socket itself when it can: the sends are
			// spread over GOMAXPROCS goroutines, as the Socket.IO gateway's
			// pump workers spread its deliveries.
			shards := runtime.GOMAXPROCS(0)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				got.Add(n)
				var senders sync.WaitGroup
				for k := range shards {
					senders.Go(func() {
						for i := k; i < len(server); i += shards {
							if err := server[i].SendText(msg); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				senders.Wait()
				got.Wait()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.StopTimer()
			for _, ws := range clients {
				ws.Close()
			}
			readers.Wait()
		})
	}
}

// BenchmarkIdleConn measures what an idle WebSocket session costs the
// process (heap and stacks, server side plus a bare net.Conn per client):
// the bytes/conn metric.
func BenchmarkIdleConn(b *testing.B) {
	const n = 2000
	for b.Loop() { // one op: open n sessions, measure, close them
		eng := engineio.NewServer(engineio.Config{}, nil)
		ts := httptest.NewServer(eng)
		before := memInUse()
		conns := make([]net.Conn, 0, n)
		for range n {
			c, err := net.Dial("tcp", ts.Listener.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			req := "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
			if _, err := io.WriteString(c, req); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 4096)
			got := 0
			for !bytes.Contains(buf[:got], []byte(`"maxPayload":1000000}`)) {
				m, err := c.Read(buf[got:])
				if err != nil {
					b.Fatal(err)
				}
				got += m
			}
			conns = append(conns, c)
		}
		for eng.Len() < n {
			time.Sleep(time.Millisecond)
		}
		after := memInUse()
		b.ReportMetric(float64(after-before)/n, "bytes/conn")
		for _, c := range conns {
			c.Close()
		}
		ts.Close()
		eng.Close()
	}
}

func memInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
