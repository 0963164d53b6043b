package engineio_test

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
)

// TestWebSocketBackpressure sends more than the socket buffers hold to a
// client that does not read yet: the sender is never blocked (what the
// socket does not take is left to the writer goroutine), and once the
// client reads, every message arrives whole and in order, with the text
// and binary frames and the messages of concurrent batches unmixed.
func TestWebSocketBackpressure(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int // bytes per message
		n    int
	}{
		{name: "small messages", size: 300, n: 60000},
		{name: "large messages", size: 64 << 10, n: 256},
		{name: "odd sizes", size: 4099, n: 4000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, engineio.Config{WriteBufferLimit: 64 << 20, PingInterval: time.Hour})
			ws := dial(t, ts.wsURL("transport=websocket"))
			read(t, ws) // handshake
			c := <-ts.opened
			msg := func(i int) []byte {
				b := bytes.Repeat([]byte{byte('a' + i%26)}, tc.size)
				copy(b, fmt.Sprintf("%08d", i))
				return b
			}
			start := time.Now()
			for i := 0; i < tc.n; i += 2 {
				// A text and a binary message in one batch.
				if err := c.Send(engineio.Message{Data: msg(i)}, engineio.Message{Data: msg(i + 1), Binary: true}); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			t.Logf("queued %d bytes in %v", tc.size*tc.n, time.Since(start))
			for i := range tc.n {
				_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
				mt, got, err := ws.ReadMessage()
				if err != nil {
					t.Fatalf("read %d: %v", i, err)
				}
				want := msg(i)
				if i%2 == 0 {
					if mt != websocket.TextMessage || got[0] != '4' || !bytes.Equal(got[1:], want) {
						t.Fatalf("message %d: type %d, %.20q…, want text 4%.20q…", i, mt, got, want)
					}
				} else if mt != websocket.BinaryMessage || !bytes.Equal(got, want) {
					t.Fatalf("message %d: type %d, %.20q…, want binary %.20q…", i, mt, got, want)
				}
			}
			// The session is still usable: an echo round trip.
			write(t, ws, "4ping")
			if _, got := read(t, ws); got != "4ping" {
				t.Errorf("echo after the backlog: %q", got)
			}
		})
	}
}

// TestWebSocketSlowClient checks that a WebSocket client that does not
// read is cut off once its queue passes WriteBufferLimit, with the
// sender never blocked.
func TestWebSocketSlowClient(t *testing.T) {
	ts := newTestServer(t, engineio.Config{WriteBufferLimit: 256 << 10})
	ws := dial(t, ts.wsURL("transport=websocket"))
	if tcp, ok := ws.NetConn().(*net.TCPConn); ok {
		_ = tcp.SetReadBuffer(4 << 10)
	}
	read(t, ws)
	c := <-ts.opened
	msg := bytes.Repeat([]byte("x"), 16<<10)
	var err error
	for i := 0; i < 100000 && err == nil; i++ {
		err = c.SendText(msg)
	}
	if err != engineio.ErrSlowClient {
		t.Fatalf("err = %v, want ErrSlowClient", err)
	}
	ts.waitClosed(t, engineio.ReasonSlowClient)
}
