package protocol_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
	"github.com/rtbroker/rtbroker/gateways/socketio/protocol"
)

func newServer(t *testing.T, cfg protocol.Config, setup func(s *protocol.Server)) *httptest.Server {
	t.Helper()
	s := protocol.NewServer(cfg)
	setup(s)
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return ts
}

// rawClient speaks the wire protocol over a gorilla WebSocket.
type rawClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func dial(t *testing.T, ts *httptest.Server) *rawClient {
	t.Helper()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &rawClient{t: t, ws: ws}
	if got := c.read(); !strings.HasPrefix(got, "0{") {
		t.Fatalf("engine handshake %q", got)
	}
	return c
}

func (c *rawClient) send(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) sendBinary(b []byte) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next message, skipping pings; binary messages are
// returned prefixed with "bin:".
func (c *rawClient) read() string {
	c.t.Helper()
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		mt, b, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		if mt == websocket.BinaryMessage {
			return "bin:" + string(b)
		}
		if string(b) == "2" {
			continue
		}
		return string(b)
	}
}

func (c *rawClient) expectClosed() {
	c.t.Helper()
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := c.ws.ReadMessage(); err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatal("connection not closed")
			}
			return
		}
	}
}

func sidOf(t *testing.T, connect, prefix string) map[string]string {
	t.Helper()
	if !strings.HasPrefix(connect, prefix) {
		t.Fatalf("CONNECT answer %q, want prefix %q", connect, prefix)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(connect[len(prefix):]), &m); err != nil {
		t.Fatalf("CONNECT answer %q: %v", connect, err)
	}
	return m
}

func TestConnect(t *testing.T) {
	ts := newServer(t, protocol.Config{}, func(s *protocol.Server) {
		greet := func(sock *protocol.Socket) { _ = sock.Emit("auth", sock.Auth()) }
		s.Of("/").OnConnect(greet)
		s.Of("/custom").OnConnect(greet)
		s.Of("/private").Use(func(sock *protocol.Socket) error {
			var auth struct{ Token string }
			_ = json.Unmarshal(sock.Auth(), &auth)
			if auth.Token != "secret" {
				return &protocol.ConnectError{Message: "unauthorized", Data: map[string]string{"reason": "bad token"}}
			}
			return nil
		})
		s.Of("/private").OnConnect(greet)
		s.Of("/plainerr").Use(func(*protocol.Socket) error { return errors.New("nope") })
	})
	tests := []struct {
		name, send, prefix, next string
	}{
		{name: "main", send: "40", prefix: "40", next: `42["auth",{}]`},
		{name: "main with auth", send: `40{"token":"123"}`, prefix: "40", next: `42["auth",{"token":"123"}]`},
		{name: "custom", send: "40/custom,", prefix: "40/custom,", next: `42/custom,["auth",{}]`},
		{name: "custom with auth", send: `40/custom,{"token":"abc"}`, prefix: "40/custom,", next: `42/custom,["auth",{"token":"abc"}]`},
		{name: "middleware accepts", send: `40/private,{"token":"secret"}`, prefix: "40/private,", next: `42/private,["auth",{"token":"secret"}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, ts)
			c.send(tc.send)
			m := sidOf(t, c.read(), tc.prefix)
			if len(m) != 1 || m["sid"] == "" {
				t.Errorf("CONNECT answer %v, want only sid", m)
			}
			if got := c.read(); got != tc.next {
				t.Errorf("got %q, want %q", got, tc.next)
			}
		})
	}
	refused := []struct {
		name, send, want string
	}{
		{name: "unknown namespace", send: "40/random", want: `44/random,{"message":"Invalid namespace"}`},
		{name: "connect error with data", send: `40/private,{"token":"x"}`, want: `44/private,{"message":"unauthorized","data":{"reason":"bad token"}}`},
		{name: "plain error", send: "40/plainerr,", want: `44/plainerr,{"message":"nope"}`},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, ts)
			c.send(tc.send)
			if got := c.read(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			// The engine connection stays usable.
			c.send("40")
			sidOf(t, c.read(), "40")
		})
	}
	closing := []struct{ name, send string }{
		{name: "invalid handshake", send: "4abc"},
		{name: "event before connect", send: `42["x"]`},
		{name: "invalid payload", send: "42{}"},
	}
	for _, tc := range closing {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, ts)
			c.send(tc.send)
			c.expectClosed()
		})
	}
}

func TestEventsAndAcks(t *testing.T) {
	type result struct {
		args []json.RawMessage
		err  error
	}
	acked := make(chan result, 1)
	disconnected := make(chan string, 4)
	ts := newServer(t, protocol.Config{}, func(s *protocol.Server) {
		s.Of("/").OnConnect(func(sock *protocol.Socket) {
			sock.OnDisconnect(func(reason string) { disconnected <- reason })
			sock.OnEvent(func(ev *protocol.Event) {
				switch ev.Name {
				case "message":
					_ = sock.Emit("message-back", ev.EchoArgs()...)
				case "message-with-ack":
					if err := ev.Ack(ev.EchoArgs()...); err != nil {
						t.Error(err)
					}
					if err := ev.Ack(); !errors.Is(err, protocol.ErrAcked) {
						t.Errorf("second ack: %v", err)
					}
				case "ask":
					go func() {
						args, err := sock.EmitWithAck(context.Background(), "question", 42)
						acked <- result{args, err}
					}()
				case "bye":
					if err := ev.Ack(); !errors.Is(err, protocol.ErrNoAck) {
						t.Errorf("ack without id: %v", err)
					}
					sock.Disconnect()
				}
			})
		})
	})
	c := dial(t, ts)
	c.send("40")
	sidOf(t, c.read(), "40")

	c.send(`42["message",1,"2",{"3":[true]}]`)
	if got := c.read(); got != `42["message-back",1,"2",{"3":[true]}]` {
		t.Errorf("echo %q", got)
	}
	c.send(`452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	c.sendBinary([]byte{1, 2, 3})
	c.sendBinary([]byte{4, 5, 6})
	for _, want := range []string{`452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, "bin:\x01\x02\x03", "bin:\x04\x05\x06"} {
		if got := c.read(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	c.send(`42456["message-with-ack",1,"2",{"3":[false]}]`)
	if got := c.read(); got != `43456[1,"2",{"3":[false]}]` {
		t.Errorf("ack %q", got)
	}
	c.send(`452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	c.sendBinary([]byte{1})
	c.sendBinary([]byte{2})
	for _, want := range []string{`462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, "bin:\x01", "bin:\x02"} {
		if got := c.read(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}

	// Server to client ack.
	c.send(`42["ask"]`)
	q := c.read()
	if !strings.HasPrefix(q, "42") || !strings.HasSuffix(q, `["question",42]`) {
		t.Fatalf("question %q", q)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(q, "42"), `["question",42]`)
	c.send("43" + id + `["yes",{"n":1}]`)
	r := <-acked
	if r.err != nil || len(r.args) != 2 || string(r.args[0]) != `"yes"` || string(r.args[1]) != `{"n":1}` {
		t.Errorf("EmitWithAck = %q, %v", r.args, r.err)
	}

	// Server-side disconnect.
	c.send(`42["bye"]`)
	if got := c.read(); got != "41" {
		t.Errorf("got %q, want DISCONNECT", got)
	}
	if got := <-disconnected; got != "server namespace disconnect" {
		t.Errorf("reason %q", got)
	}
	// Reconnect, then client-side disconnect.
	c.send("40")
	sidOf(t, c.read(), "40")
	c.send("41")
	if got := <-disconnected; got != "client namespace disconnect" {
		t.Errorf("reason %q", got)
	}
	// Then the transport closes.
	c.send("40")
	sidOf(t, c.read(), "40")
	c.ws.Close()
	if got := <-disconnected; got != engineio.ReasonTransportClose {
		t.Errorf("reason %q", got)
	}
}

func TestEmitWithAckTimeout(t *testing.T) {
	errc := make(chan error, 2)
	ts := newServer(t, protocol.Config{AckTimeout: 50 * time.Millisecond}, func(s *protocol.Server) {
		s.Of("/").OnConnect(func(sock *protocol.Socket) {
			sock.OnEvent(func(ev *protocol.Event) {
				go func() {
					_, err := sock.EmitWithAck(context.Background(), "q")
					errc <- err
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					_, err = sock.EmitWithAck(ctx, "q")
					errc <- err
				}()
			})
		})
	})
	c := dial(t, ts)
	c.send("40")
	sidOf(t, c.read(), "40")
	c.send(`42["go"]`)
	if err := <-errc; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want canceled", err)
	}
}

func TestConnectTimeout(t *testing.T) {
	ts := newServer(t, protocol.Config{ConnectTimeout: 100 * time.Millisecond}, func(*protocol.Server) {})
	c := dial(t, ts)
	start := time.Now()
	c.expectClosed()
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Errorf("closed after %v", d)
	}
	// A connected client is not closed.
	c = dial(t, ts)
	c.send("40")
	sidOf(t, c.read(), "40")
	time.Sleep(200 * time.Millisecond)
	c.send(`42["still"]`)
	c.send("41")
	c.send("40")
	sidOf(t, c.read(), "40")
}

func TestRecoveryHandshake(t *testing.T) {
	ts := newServer(t, protocol.Config{}, func(s *protocol.Server) {
		s.Of("/").Use(func(sock *protocol.Socket) error {
			var auth struct {
				PID    string `json:"pid"`
				Offset string `json:"offset"`
			}
			_ = json.Unmarshal(sock.Auth(), &auth)
			if auth.PID == "pid-1" && auth.Offset == "7" {
				sock.Restore("old-sid")
				sock.SetPID("pid-1")
				return nil
			}
			sock.SetPID("pid-new")
			return nil
		})
		s.Of("/").OnConnect(func(sock *protocol.Socket) {
			_ = sock.Emit("recovered", sock.Recovered(), sock.ID())
		})
	})
	tests := []struct {
		name, send string
		want       map[string]string
		recovered  bool
	}{
		{name: "fresh", send: "40", want: map[string]string{"pid": "pid-new"}},
		{name: "recovered", send: `40{"pid":"pid-1","offset":"7"}`, want: map[string]string{"sid": "old-sid", "pid": "pid-1"}, recovered: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, ts)
			c.send(tc.send)
			m := sidOf(t, c.read(), "40")
			if m["sid"] == "" || m["pid"] != tc.want["pid"] || (tc.want["sid"] != "" && m["sid"] != tc.want["sid"]) {
				t.Errorf("CONNECT answer %v, want %v", m, tc.want)
			}
			want := `42["recovered",false,"` + m["sid"] + `"]`
			if tc.recovered {
				want = `42["recovered",true,"old-sid"]`
			}
			if got := c.read(); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestWriteRaw(t *testing.T) {
	socks := make(chan *protocol.Socket, 3)
	ts := newServer(t, protocol.Config{}, func(s *protocol.Server) {
		s.Of("/news").OnConnect(func(sock *protocol.Socket) { socks <- sock })
	})
	var clients []*rawClient
	for range 3 {
		c := dial(t, ts)
		c.send("40/news,")
		sidOf(t, c.read(), "40/news,")
		clients = append(clients, c)
	}
	pkt, err := protocol.EncodeEvent("/news", "headline", json.RawMessage(`{"t":"hi"}`), "12")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := (<-socks).WriteRaw(pkt); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range clients {
		if got := c.read(); got != `42/news,["headline",{"t":"hi"},"12"]` {
			t.Errorf("got %q", got)
		}
	}
}
