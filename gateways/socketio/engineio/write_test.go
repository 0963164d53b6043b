package engineio_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
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

// TestWebSocketCork holds a connection's writes between Cork and Uncork:
// nothing reaches the client meanwhile, then everything does, in order,
// including a Close queued while corked, with the poller's non-blocking
// writes (TCP) and with writer goroutines (other connections).
func TestWebSocketCork(t *testing.T) {
	for _, tc := range []struct {
		name       string
		plainConns bool
		close      bool // Close while corked
	}{
		{name: "tcp"},
		{name: "tcp, close while corked", close: true},
		{name: "plain conn", plainConns: true},
		{name: "plain conn, close while corked", plainConns: true, close: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServerOn(t, engineio.Config{PingInterval: time.Hour}, tc.plainConns)
			ws := dial(t, ts.wsURL("transport=websocket"))
			read(t, ws) // handshake
			c := <-ts.opened
			c.Cork()
			for _, m := range []string{"a", "b"} {
				if err := c.SendText([]byte(m)); err != nil {
					t.Fatalf("send %s: %v", m, err)
				}
			}
			if tc.close {
				c.Close()
			}
			// Nothing arrives while corked (a correctness wait: with a
			// working cork no byte ever comes before Uncork).
			raw := ws.UnderlyingConn()
			_ = raw.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			var b [1]byte
			if n, err := raw.Read(b[:]); n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read while corked: %d bytes, %v; want nothing", n, err)
			}
			c.Uncork()
			for _, want := range []string{"4a", "4b"} {
				if _, got := read(t, ws); got != want {
					t.Fatalf("after Uncork: %q, want %q", got, want)
				}
			}
			if tc.close {
				if code := closeCode(t, ws); code != websocket.CloseNormalClosure {
					t.Errorf("close code %d, want %d", code, websocket.CloseNormalClosure)
				}
				return
			}
			write(t, ws, "4ping") // still a working session: an echo round trip
			if _, got := read(t, ws); got != "4ping" {
				t.Errorf("echo after Uncork: %q", got)
			}
		})
	}
}

// TestBacklogged: a sender that checks Backlogged before each send to a
// client that reads nothing sees it backlogged well before the write
// buffer limit would close the session, is woken once the client has read
// what was queued, and the session is still there (a slow reader is
// paced, not closed).
func TestBacklogged(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain conn %v", plain), func(t *testing.T) {
			const limit = 1 << 20
			ts := newTestServerOn(t, engineio.Config{WriteBufferLimit: limit, PingInterval: time.Hour}, plain)
			ws := dial(t, ts.wsURL("transport=websocket"))
			read(t, ws) // handshake
			c := <-ts.opened
			woken := make(chan struct{})
			msg := bytes.Repeat([]byte("x"), 32<<10)
			sent := 0
			for !c.Backlogged(func() { close(woken) }) {
				if sent == 4*limit/len(msg) { // the socket's buffers hold less than this
					t.Fatalf("not backlogged after %d messages of %d bytes to a client that reads nothing", sent, len(msg))
				}
				if err := c.SendText(msg); err != nil {
					t.Fatalf("send %d: %v (the sender checked Backlogged first)", sent, err)
				}
				sent++
			}
			if !plain { // a plain conn's writer hands each batch to the socket in a goroutine: it may drain at once
				select {
				case <-woken:
					t.Fatal("woken before the client read anything")
				case <-time.After(200 * time.Millisecond):
				}
			}
			for i := range sent {
				if _, got := read(t, ws); len(got) != len(msg)+1 {
					t.Fatalf("message %d: %d bytes, want %d", i, len(got), len(msg)+1)
				}
			}
			select {
			case <-woken:
			case <-time.After(10 * time.Second):
				t.Fatal("not woken after the client read everything queued")
			}
			if c.Backlogged(func() {}) {
				t.Error("still backlogged once drained")
			}
			write(t, ws, "4ping") // still a working session
			if _, got := read(t, ws); got != "4ping" {
				t.Errorf("echo: %q", got)
			}
		})
	}
}
