package engineio_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
)

// maskedFrame encodes a client frame (masked) by hand, for what gorilla's
// client will not send.
func maskedFrame(b0 byte, payload []byte) []byte {
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	default:
		out = append(out, 0x80|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	}
	key := []byte{0x12, 0x34, 0x56, 0x78}
	out = append(out, key...)
	for i, c := range payload {
		out = append(out, c^key[i&3])
	}
	return out
}

// closeCode reads until the server's close frame and returns its code.
func closeCode(t *testing.T, ws *websocket.Conn) int {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if err != nil {
			t.Fatalf("read until close: %v", err)
		}
	}
}

// TestWebSocketFrames runs the engine's frame reader against real clients,
// with the poller (TCP) and with a reader goroutine (other connections).
func TestWebSocketFrames(t *testing.T) {
	for _, mode := range []struct {
		name  string
		plain bool
	}{{name: "poller"}, {name: "goroutine", plain: true}} {
		t.Run(mode.name, func(t *testing.T) {
			var ts *testServer // a server per subtest: close reasons are checked in order
			open := func(t *testing.T, d *websocket.Dialer) *websocket.Conn {
				t.Helper()
				ts = newTestServerOn(t, engineio.Config{MaxPayload: 1000, PingInterval: time.Hour}, mode.plain)
				if d == nil {
					d = websocket.DefaultDialer
				}
				ws, _, err := d.Dial(ts.wsURL("transport=websocket"), nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ws.Close() })
				read(t, ws) // handshake
				return ws
			}
			t.Run("text and binary", func(t *testing.T) {
				ws := open(t, nil)
				for i := range 50 {
					msg := strings.Repeat(string(rune('a'+i%26)), i*19)
					write(t, ws, "4"+msg)
					if _, got := read(t, ws); got != "4"+msg {
						t.Fatalf("echo %d: %q", i, got)
					}
				}
				if err := ws.WriteMessage(websocket.BinaryMessage, []byte{0, 1, 2}); err != nil {
					t.Fatal(err)
				}
				if mt, got := read(t, ws); mt != websocket.BinaryMessage || got != "\x00\x01\x02" {
					t.Errorf("binary echo %d %q", mt, got)
				}
			})
			t.Run("fragmented", func(t *testing.T) {
				// gorilla sends a message larger than its write buffer as
				// several frames.
				ws := open(t, &websocket.Dialer{WriteBufferSize: 64})
				msg := "4" + strings.Repeat("frag", 200) // 801 bytes: 13 frames
				write(t, ws, msg)
				if _, got := read(t, ws); got != msg {
					t.Fatalf("echo of a fragmented message: %d bytes", len(got))
				}
			})
			t.Run("ping", func(t *testing.T) {
				ws := open(t, nil)
				pong := make(chan string, 1)
				ws.SetPongHandler(func(data string) error { pong <- data; return nil })
				if err := ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
					t.Fatal(err)
				}
				write(t, ws, "4after")
				if _, got := read(t, ws); got != "4after" { // the pong is handled while reading
					t.Fatalf("got %q", got)
				}
				if got := <-pong; got != "are you there" {
					t.Errorf("pong %q", got)
				}
			})
			t.Run("close frame", func(t *testing.T) {
				ws := open(t, nil)
				msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye")
				if err := ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
					t.Fatal(err)
				}
				if code := closeCode(t, ws); code != websocket.CloseNormalClosure {
					t.Errorf("close code %d", code)
				}
				ts.waitClosed(t, engineio.ReasonTransportClose)
			})
			t.Run("oversized", func(t *testing.T) {
				ws := open(t, nil)
				write(t, ws, "4"+strings.Repeat("x", 1000))
				if code := closeCode(t, ws); code != websocket.CloseMessageTooBig {
					t.Errorf("close code %d, want 1009", code)
				}
				ts.waitClosed(t, engineio.ReasonTransportError)
			})
			t.Run("bad opcode", func(t *testing.T) {
				ws := open(t, nil)
				if _, err := ws.NetConn().Write(maskedFrame(0x83, []byte("x"))); err != nil {
					t.Fatal(err)
				}
				if code := closeCode(t, ws); code != websocket.CloseProtocolError {
					t.Errorf("close code %d, want 1002", code)
				}
				ts.waitClosed(t, engineio.ReasonTransportError)
			})
			t.Run("frames in one segment", func(t *testing.T) {
				ws := open(t, nil)
				var b []byte
				for i := range 20 {
					b = append(b, maskedFrame(0x81, []byte("4m"+strings.Repeat("z", i)))...)
				}
				if _, err := ws.NetConn().Write(b); err != nil {
					t.Fatal(err)
				}
				for i := range 20 {
					if _, got := read(t, ws); got != "4m"+strings.Repeat("z", i) {
						t.Fatalf("message %d: %q", i, got)
					}
				}
			})
			t.Run("upgrade with messages right after 5", func(t *testing.T) {
				ts := newTestServerOn(t, engineio.Config{PingInterval: time.Hour}, mode.plain)
				sid := openPolling(t, ts)
				ws := dial(t, ts.wsURL("transport=websocket&sid="+sid))
				write(t, ws, "2probe")
				if _, got := read(t, ws); got != "3probe" {
					t.Fatalf("probe answer %q", got)
				}
				// "5" and two messages in one write: the probe reader has
				// read them all; the messages must not be lost.
				b := bytes.Join([][]byte{maskedFrame(0x81, []byte("5")), maskedFrame(0x81, []byte("4one")), maskedFrame(0x81, []byte("4two"))}, nil)
				if _, err := ws.NetConn().Write(b); err != nil {
					t.Fatal(err)
				}
				for _, want := range []string{"4one", "4two"} {
					if _, got := read(t, ws); got != want {
						t.Fatalf("got %q, want %q", got, want)
					}
				}
			})
		})
	}
}

// TestWebSocketSlowHandler: while the message handler is blocked, the
// engine stops reading once MaxPayload bytes wait for it (the client is
// held back by TCP), and no message is lost or reordered when it resumes.
func TestWebSocketSlowHandler(t *testing.T) {
	for _, mode := range []struct {
		name  string
		plain bool
	}{{name: "poller"}, {name: "goroutine", plain: true}} {
		t.Run(mode.name, func(t *testing.T) {
			const n, size = 3000, 1000
			gate := make(chan struct{})
			got := make(chan string, n)
			eng := engineio.NewServer(engineio.Config{MaxPayload: 4 * size, PingInterval: time.Hour}, func(c *engineio.Conn) {
				first := true
				c.OnMessage(func(data []byte, _ bool) {
					if first {
						<-gate
						first = false
					}
					got <- string(data)
				})
			})
			ts := httptest.NewUnstartedServer(eng)
			if mode.plain {
				ts.Listener = wrapListener{ts.Listener}
			}
			ts.Start()
			t.Cleanup(func() { ts.Close(); eng.Close() })
			ws := dial(t, "ws"+strings.TrimPrefix(ts.URL, "http")+"/engine.io/?EIO=4&transport=websocket")
			read(t, ws)
			sent := make(chan error, 1)
			go func() {
				for i := range n {
					msg := fmt.Sprintf("4%06d%s", i, strings.Repeat("p", size-7))
					if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
						sent <- err
						return
					}
				}
				sent <- nil
			}()
			time.Sleep(100 * time.Millisecond) // let the engine fill its inbox and pause
			close(gate)
			for i := range n {
				select {
				case m := <-got:
					if want := fmt.Sprintf("%06d", i); m[:6] != want {
						t.Fatalf("message %d is %q…", i, m[:6])
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("message %d did not arrive", i)
				}
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
		})
	}
}
