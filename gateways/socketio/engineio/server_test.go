package engineio_test

import (
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
)

// testServer is an engine behind httptest, echoing every message, and
// recording the close reasons.
type testServer struct {
	*httptest.Server
	engine *engineio.Server
	closed chan string // close reasons
	opened chan *engineio.Conn
}

func newTestServer(t *testing.T, cfg engineio.Config) *testServer {
	t.Helper()
	return newTestServerOn(t, cfg, false)
}

// wrapListener hides the *net.TCPConn of accepted connections, so the
// engine reads and writes them as any net.Conn: a reader goroutine and
// writer goroutines instead of the poller and non-blocking writes.
type wrapListener struct{ net.Listener }

type wrappedConn struct{ net.Conn }

func (l wrapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrappedConn{c}, nil
}

// newTestServerOn is newTestServer; with plainConns the engine sees
// connections that are not TCP (see wrapListener).
func newTestServerOn(t *testing.T, cfg engineio.Config, plainConns bool) *testServer {
	t.Helper()
	ts := &testServer{closed: make(chan string, 100), opened: make(chan *engineio.Conn, 100)}
	ts.engine = engineio.NewServer(cfg, func(c *engineio.Conn) {
		c.OnMessage(func(data []byte, binary bool) {
			_ = c.Send(engineio.Message{Data: data, Binary: binary})
		})
		c.OnClose(func(reason string) { ts.closed <- reason })
		ts.opened <- c
	})
	ts.Server = httptest.NewUnstartedServer(ts.engine)
	if plainConns {
		ts.Server.Listener = wrapListener{ts.Server.Listener}
	}
	ts.Server.Start()
	t.Cleanup(func() {
		ts.Server.Close()
		ts.engine.Close()
	})
	return ts
}

func (ts *testServer) url(query string) string {
	return ts.URL + "/engine.io/?EIO=4&" + query
}

func (ts *testServer) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(ts.url(query), "http")
}

func (ts *testServer) waitClosed(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-ts.closed:
		if want != "" && got != want {
			t.Errorf("close reason %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no close (want %q)", want)
	}
}

func do(t *testing.T, method, url, body string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

type handshake struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

func parseHandshake(t *testing.T, body string) handshake {
	t.Helper()
	if !strings.HasPrefix(body, "0") {
		t.Fatalf("handshake %q does not start with 0", body)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body[1:]), &keys); err != nil {
		t.Fatalf("handshake %q: %v", body, err)
	}
	if len(keys) != 5 {
		t.Errorf("handshake keys %v, want sid, upgrades, pingInterval, pingTimeout, maxPayload", keys)
	}
	var hs handshake
	if err := json.Unmarshal([]byte(body[1:]), &hs); err != nil {
		t.Fatal(err)
	}
	return hs
}

func openPolling(t *testing.T, ts *testServer) string {
	t.Helper()
	status, body, _ := do(t, "GET", ts.url("transport=polling"), "")
	if status != 200 {
		t.Fatalf("handshake status %d %q", status, body)
	}
	return parseHandshake(t, body).SID
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", url, err, resp)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func read(t *testing.T, ws *websocket.Conn) (int, string) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	mt, b, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return mt, string(b)
}

func write(t *testing.T, ws *websocket.Conn, s string) {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func TestHandshake(t *testing.T) {
	ts := newTestServer(t, engineio.Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	t.Run("polling", func(t *testing.T) {
		status, body, hdr := do(t, "GET", ts.url("transport=polling"), "")
		if status != 200 {
			t.Fatalf("status %d", status)
		}
		if ct := hdr.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
			t.Errorf("Content-Type %q", ct)
		}
		hs := parseHandshake(t, body)
		want := handshake{SID: hs.SID, Upgrades: []string{"websocket"}, PingInterval: 300, PingTimeout: 200, MaxPayload: 1000000}
		if hs.SID == "" || len(hs.Upgrades) != 1 || hs.Upgrades[0] != "websocket" || hs.PingInterval != want.PingInterval || hs.PingTimeout != want.PingTimeout || hs.MaxPayload != want.MaxPayload {
			t.Errorf("handshake %+v, want %+v", hs, want)
		}
	})
	t.Run("websocket", func(t *testing.T) {
		ws := dial(t, ts.wsURL("transport=websocket"))
		mt, msg := read(t, ws)
		if mt != websocket.TextMessage {
			t.Fatalf("message type %d", mt)
		}
		hs := parseHandshake(t, msg)
		if hs.SID == "" || len(hs.Upgrades) != 0 || hs.PingInterval != 300 {
			t.Errorf("handshake %+v", hs)
		}
	})
}

// TestRequest checks what a session keeps of its handshake request: the
// address and host, and of its headers and query only what Config.Keep
// returned.
func TestRequest(t *testing.T) {
	open := func(t *testing.T, cfg engineio.Config) *engineio.Request {
		ts := newTestServer(t, cfg)
		ws, _, err := websocket.DefaultDialer.Dial(ts.wsURL("transport=websocket&room=a"), http.Header{"X-Api-Key": {"k1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		select {
		case c := <-ts.opened:
			return c.Request()
		case <-time.After(5 * time.Second):
			t.Fatal("no session")
			return nil
		}
	}
	t.Run("default", func(t *testing.T) {
		r := open(t, engineio.Config{})
		if r.Kept != nil || !strings.HasPrefix(r.RemoteAddr, "127.0.0.1:") {
			t.Errorf("request %+v: want the address, nothing kept", r)
		}
	})
	t.Run("keep", func(t *testing.T) {
		keep := func(r *http.Request) any {
			return strings.Clone(r.Header.Get("X-Api-Key")) + "/" + r.URL.Query().Get("room")
		}
		r := open(t, engineio.Config{Keep: keep})
		if r.Kept != "k1/a" || !strings.HasPrefix(r.RemoteAddr, "127.0.0.1:") {
			t.Errorf("request %+v: want Kept k1/a", r)
		}
	})
}

func TestErrorCodes(t *testing.T) {
	ts := newTestServer(t, engineio.Config{
		AllowRequest: func(r *http.Request) error {
			if r.URL.Query().Get("deny") != "" {
				return errString("go away")
			}
			return nil
		},
	})
	sid := openPolling(t, ts)
	tests := []struct {
		name, method, query string
		hdr                 []string
		status              int
		body                string
	}{
		{name: "missing transport", method: "GET", query: "", status: 400, body: `{"code":0,"message":"Transport unknown"}`},
		{name: "unknown transport", method: "GET", query: "transport=abc", status: 400, body: `{"code":0,"message":"Transport unknown"}`},
		{name: "unknown sid", method: "GET", query: "transport=polling&sid=nope", status: 400, body: `{"code":1,"message":"Session ID unknown"}`},
		{name: "handshake with POST", method: "POST", query: "transport=polling", status: 400, body: `{"code":2,"message":"Bad handshake method"}`},
		{name: "handshake with PUT", method: "PUT", query: "transport=polling", status: 400, body: `{"code":2,"message":"Bad handshake method"}`},
		{name: "websocket without upgrade", method: "GET", query: "transport=websocket", status: 400, body: `{"code":3,"message":"Bad request"}`},
		{name: "transport mismatch", method: "GET", query: "transport=websocket&sid=" + sid, status: 400, body: `{"code":3,"message":"Bad request"}`},
		{name: "forbidden", method: "GET", query: "transport=polling&deny=1", status: 403, body: `{"code":4,"message":"go away"}`},
		{name: "EIO=3", method: "GET", query: "transport=polling&EIO=3", status: 400, body: `{"code":5,"message":"Unsupported protocol version"}`},
		{name: "EIO=abc", method: "GET", query: "transport=polling&EIO=abc", status: 400, body: `{"code":5,"message":"Unsupported protocol version"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := ts.URL + "/engine.io/?" + tc.query
			if !strings.Contains(tc.query, "EIO=") {
				url = ts.url(tc.query)
			}
			status, body, hdr := do(t, tc.method, url, "", tc.hdr...)
			if status != tc.status || body != tc.body {
				t.Errorf("got %d %s, want %d %s", status, body, tc.status, tc.body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	t.Run("missing EIO", func(t *testing.T) {
		status, body, _ := do(t, "GET", ts.URL+"/engine.io/?transport=polling", "")
		if status != 400 || body != `{"code":5,"message":"Unsupported protocol version"}` {
			t.Errorf("got %d %s", status, body)
		}
	})
}

type errString string

func (e errString) Error() string { return string(e) }

func TestPollingRoundTrip(t *testing.T) {
	ts := newTestServer(t, engineio.Config{})
	tests := []struct {
		name, payload string
	}{
		{name: "one text packet", payload: "4hello"},
		{name: "several text packets", payload: "4test1\x1e4test2\x1e4test3"},
		{name: "text and binary", payload: "4hello\x1ebAQIDBA=="},
		{name: "empty message", payload: "4"},
		{name: "unicode", payload: "4héllo €"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sid := openPolling(t, ts)
			url := ts.url("transport=polling&sid=" + sid)
			if status, body, _ := do(t, "POST", url, tc.payload); status != 200 || body != "ok" {
				t.Fatalf("POST: %d %q", status, body)
			}
			if status, body, _ := do(t, "GET", url, ""); status != 200 || body != tc.payload {
				t.Fatalf("GET: %d %q, want %q", status, body, tc.payload)
			}
		})
	}
}

func TestPollingErrors(t *testing.T) {
	ts := newTestServer(t, engineio.Config{MaxPayload: 100})
	t.Run("invalid packet closes the session", func(t *testing.T) {
		sid := openPolling(t, ts)
		url := ts.url("transport=polling&sid=" + sid)
		if status, _, _ := do(t, "POST", url, "abc"); status != 400 {
			t.Errorf("POST status %d", status)
		}
		ts.waitClosed(t, engineio.ReasonParseError)
		if status, _, _ := do(t, "GET", url, ""); status != 400 {
			t.Errorf("GET after close: %d", status)
		}
	})
	t.Run("concurrent GET", func(t *testing.T) {
		sid := openPolling(t, ts)
		url := ts.url("transport=polling&sid=" + sid)
		first := make(chan string)
		go func() {
			resp, err := http.Get(url)
			if err != nil {
				first <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			first <- string(b)
		}()
		time.Sleep(50 * time.Millisecond)
		if status, _, _ := do(t, "GET", url, ""); status != 400 {
			t.Errorf("second GET: %d", status)
		}
		if got := <-first; got != "1" {
			t.Errorf("first GET got %q, want close packet", got)
		}
		ts.waitClosed(t, engineio.ReasonTransportError)
	})
	t.Run("payload over maxPayload", func(t *testing.T) {
		sid := openPolling(t, ts)
		url := ts.url("transport=polling&sid=" + sid)
		if status, _, _ := do(t, "POST", url, "4"+strings.Repeat("x", 100)); status != 413 {
			t.Errorf("POST status %d, want 413", status)
		}
		if status, body, _ := do(t, "POST", url, "4"+strings.Repeat("x", 99)); status != 200 {
			t.Errorf("POST at the limit: %d %s", status, body)
		}
	})
	t.Run("client close", func(t *testing.T) {
		sid := openPolling(t, ts)
		url := ts.url("transport=polling&sid=" + sid)
		got := make(chan string)
		go func() {
			_, body, _ := do(t, "GET", url, "")
			got <- body
		}()
		time.Sleep(50 * time.Millisecond)
		do(t, "POST", url, "1")
		if b := <-got; b != "6" {
			t.Errorf("pending GET got %q, want noop", b)
		}
		ts.waitClosed(t, engineio.ReasonTransportClose)
	})
}

func TestCORS(t *testing.T) {
	tests := []struct {
		name        string
		cfg         engineio.Config
		origin      string
		wantOrigin  string
		wantCreds   string
		wantPreflit int
	}{
		{name: "off by default", origin: "https://a.example", wantPreflit: 400},
		{name: "allowed origin", cfg: engineio.Config{AllowedOrigins: []string{"https://a.example"}}, origin: "https://a.example", wantOrigin: "https://a.example", wantPreflit: 204},
		{name: "other origin", cfg: engineio.Config{AllowedOrigins: []string{"https://a.example"}}, origin: "https://evil.example", wantPreflit: 400},
		{name: "wildcard", cfg: engineio.Config{AllowedOrigins: []string{"*"}}, origin: "https://b.example", wantOrigin: "*", wantPreflit: 204},
		{name: "wildcard with credentials", cfg: engineio.Config{AllowedOrigins: []string{"*"}, AllowCredentials: true}, origin: "https://b.example", wantOrigin: "https://b.example", wantCreds: "true", wantPreflit: 204},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, tc.cfg)
			status, _, hdr := do(t, "GET", ts.url("transport=polling"), "", "Origin", tc.origin)
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			if got := hdr.Get("Access-Control-Allow-Origin"); got != tc.wantOrigin {
				t.Errorf("Allow-Origin %q, want %q", got, tc.wantOrigin)
			}
			if got := hdr.Get("Access-Control-Allow-Credentials"); got != tc.wantCreds {
				t.Errorf("Allow-Credentials %q, want %q", got, tc.wantCreds)
			}
			status, _, hdr = do(t, "OPTIONS", ts.url("transport=polling"), "", "Origin", tc.origin,
				"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
			if status != tc.wantPreflit {
				t.Errorf("preflight status %d, want %d", status, tc.wantPreflit)
			}
			if status == 204 && hdr.Get("Access-Control-Allow-Headers") != "content-type" {
				t.Errorf("preflight headers %v", hdr)
			}
		})
	}
	t.Run("websocket origin check", func(t *testing.T) {
		ts := newTestServer(t, engineio.Config{AllowedOrigins: []string{"https://a.example"}})
		h := http.Header{"Origin": {"https://evil.example"}}
		if _, resp, err := websocket.DefaultDialer.Dial(ts.wsURL("transport=websocket"), h); err == nil || resp == nil || resp.StatusCode != 403 {
			t.Errorf("evil origin: err %v resp %v", err, resp)
		}
		h = http.Header{"Origin": {"https://a.example"}}
		ws, _, err := websocket.DefaultDialer.Dial(ts.wsURL("transport=websocket"), h)
		if err != nil {
			t.Fatalf("allowed origin: %v", err)
		}
		ws.Close()
	})
}

func TestWebSocket(t *testing.T) {
	ts := newTestServer(t, engineio.Config{MaxPayload: 1000})
	ws := dial(t, ts.wsURL("transport=websocket"))
	read(t, ws) // handshake
	write(t, ws, "4hello")
	if _, got := read(t, ws); got != "4hello" {
		t.Errorf("echo %q", got)
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if mt, got := read(t, ws); mt != websocket.BinaryMessage || got != "\x01\x02\x03" {
		t.Errorf("binary echo %d %q", mt, got)
	}
	t.Run("over maxPayload", func(t *testing.T) {
		ws := dial(t, ts.wsURL("transport=websocket"))
		read(t, ws)
		write(t, ws, "4"+strings.Repeat("x", 1000))
		ts.waitClosed(t, engineio.ReasonTransportError)
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
			t.Errorf("read after an oversized message: %v, want close 1009 (message too big)", err)
		}
	})
	t.Run("invalid packet", func(t *testing.T) {
		ws := dial(t, ts.wsURL("transport=websocket"))
		read(t, ws)
		write(t, ws, "abc")
		ts.waitClosed(t, engineio.ReasonParseError)
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := ws.ReadMessage(); err == nil {
			t.Error("connection still open")
		}
	})
	t.Run("close packet", func(t *testing.T) {
		ws := dial(t, ts.wsURL("transport=websocket"))
		read(t, ws)
		write(t, ws, "1")
		ts.waitClosed(t, engineio.ReasonTransportClose)
	})
}

func TestUpgrade(t *testing.T) {
	ts := newTestServer(t, engineio.Config{})
	sid := openPolling(t, ts)
	url := ts.url("transport=polling&sid=" + sid)

	// A GET waiting while the probe succeeds is released with a noop.
	pending := make(chan string)
	go func() {
		_, body, _ := do(t, "GET", url, "")
		pending <- body
	}()
	time.Sleep(50 * time.Millisecond)
	ws := dial(t, ts.wsURL("transport=websocket&sid="+sid))
	write(t, ws, "2probe")
	if _, got := read(t, ws); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	if got := <-pending; got != "6" {
		t.Errorf("pending GET got %q, want noop", got)
	}
	// Messages sent during the upgrade come out on the WebSocket.
	if status, _, _ := do(t, "POST", url, "4during"); status != 200 {
		t.Fatalf("POST during upgrade: %d", status)
	}
	write(t, ws, "5")
	if _, got := read(t, ws); got != "4during" {
		t.Errorf("after upgrade got %q", got)
	}
	write(t, ws, "4hello")
	if _, got := read(t, ws); got != "4hello" {
		t.Errorf("echo %q", got)
	}
	if status, _, _ := do(t, "GET", url, ""); status != 400 {
		t.Errorf("GET after upgrade: %d", status)
	}
	ws2, _, err := websocket.DefaultDialer.Dial(ts.wsURL("transport=websocket&sid="+sid), nil)
	if err == nil {
		_ = ws2.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := ws2.ReadMessage(); err == nil {
			t.Error("second upgrade not closed")
		}
		ws2.Close()
	}
	write(t, ws, "4still")
	if _, got := read(t, ws); got != "4still" {
		t.Errorf("echo after second upgrade %q", got)
	}
}

func TestHeartbeatTimeout(t *testing.T) {
	ts := newTestServer(t, engineio.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond})
	t.Run("websocket pong keeps alive", func(t *testing.T) {
		ws := dial(t, ts.wsURL("transport=websocket"))
		read(t, ws)
		for range 4 {
			if _, got := read(t, ws); got != "2" {
				t.Fatalf("got %q, want ping", got)
			}
			write(t, ws, "3")
		}
		ws.Close()
		ts.waitClosed(t, engineio.ReasonTransportClose)
	})
	t.Run("websocket timeout", func(t *testing.T) {
		ws := dial(t, ts.wsURL("transport=websocket"))
		read(t, ws)
		start := time.Now()
		ts.waitClosed(t, engineio.ReasonPingTimeout)
		if d := time.Since(start); d < 80*time.Millisecond {
			t.Errorf("closed after %v", d)
		}
	})
	t.Run("polling timeout", func(t *testing.T) {
		sid := openPolling(t, ts)
		ts.waitClosed(t, engineio.ReasonPingTimeout)
		if status, _, _ := do(t, "GET", ts.url("transport=polling&sid="+sid), ""); status != 400 {
			t.Errorf("GET after timeout: %d", status)
		}
	})
}

func TestClose(t *testing.T) {
	ts := newTestServer(t, engineio.Config{})
	t.Run("conn close flushes then closes", func(t *testing.T) {
		ws := dial(t, ts.wsURL("transport=websocket"))
		read(t, ws)
		c := <-ts.opened
		_ = c.SendText([]byte("bye"))
		c.Close()
		if _, got := read(t, ws); got != "4bye" {
			t.Errorf("got %q", got)
		}
		_, _, err := ws.ReadMessage()
		if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Errorf("read after close: %v", err)
		}
		ts.waitClosed(t, engineio.ReasonForcedClose)
		if err := c.SendText([]byte("x")); err != engineio.ErrClosed {
			t.Errorf("send after close: %v", err)
		}
	})
	t.Run("polling conn close", func(t *testing.T) {
		sid := openPolling(t, ts)
		c := <-ts.opened
		_ = c.SendText([]byte("bye"))
		c.Close()
		if _, body, _ := do(t, "GET", ts.url("transport=polling&sid="+sid), ""); body != "4bye\x1e1" {
			t.Errorf("GET got %q", body)
		}
		ts.waitClosed(t, engineio.ReasonForcedClose)
	})
	t.Run("server close", func(t *testing.T) {
		ts := newTestServer(t, engineio.Config{})
		ws := dial(t, ts.wsURL("transport=websocket"))
		read(t, ws)
		sid := openPolling(t, ts)
		var wg sync.WaitGroup
		var body string
		wg.Go(func() { _, body, _ = do(t, "GET", ts.url("transport=polling&sid="+sid), "") })
		time.Sleep(50 * time.Millisecond)
		ts.engine.Close()
		wg.Wait()
		if body != "1" {
			t.Errorf("pending GET got %q", body)
		}
		ts.waitClosed(t, engineio.ReasonForcedClose)
		ts.waitClosed(t, engineio.ReasonForcedClose)
		if ts.engine.Len() != 0 {
			t.Errorf("%d sessions left", ts.engine.Len())
		}
		if status, _, _ := do(t, "GET", ts.url("transport=polling"), ""); status != 503 {
			t.Errorf("handshake after close: %d", status)
		}
	})
}

func TestSlowClient(t *testing.T) {
	ts := newTestServer(t, engineio.Config{WriteBufferLimit: 1000})
	openPolling(t, ts)
	c := <-ts.opened
	msg := []byte(strings.Repeat("x", 100))
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = c.SendText(msg)
	}
	if err != engineio.ErrSlowClient {
		t.Fatalf("err = %v, want ErrSlowClient", err)
	}
	ts.waitClosed(t, engineio.ReasonSlowClient)
}

// Config.Admit: a refused handshake is answered 429 and creates no
// session; every admitted session's release runs exactly once, whether it
// ends by its client, by the server, or by the server's Close.
func TestAdmitReleasedOnce(t *testing.T) {
	var mu sync.Mutex
	admitted, released, refuse := 0, map[int]int{}, false
	ts := newTestServer(t, engineio.Config{Admit: func(r *http.Request) (func(), bool) {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			return nil, false
		}
		admitted++
		n := admitted
		return func() {
			mu.Lock()
			released[n]++
			mu.Unlock()
		}, true
	}})
	counts := func() (int, map[int]int) {
		mu.Lock()
		defer mu.Unlock()
		return admitted, maps.Clone(released)
	}

	ws := dial(t, ts.wsURL("transport=websocket")) // 1: its client leaves
	read(t, ws)
	<-ts.opened
	ws.Close()
	ts.waitClosed(t, engineio.ReasonTransportClose)

	sid := openPolling(t, ts) // 2: the server closes it
	(<-ts.opened).Close()
	do(t, "GET", ts.url("transport=polling&sid="+sid), "") // takes the close
	ts.waitClosed(t, engineio.ReasonForcedClose)

	ws = dial(t, ts.wsURL("transport=websocket")) // 3 and 4: open at Close
	read(t, ws)
	<-ts.opened
	openPolling(t, ts)
	<-ts.opened

	mu.Lock()
	refuse = true
	mu.Unlock()
	if status, body, _ := do(t, "GET", ts.url("transport=polling"), ""); status != http.StatusTooManyRequests || !strings.Contains(body, "Too many connections") {
		t.Errorf("refused handshake: %d %s", status, body)
	}
	ts.engine.Close()
	ts.waitClosed(t, engineio.ReasonForcedClose)
	ts.waitClosed(t, engineio.ReasonForcedClose)

	n, rel := counts()
	if n != 4 {
		t.Fatalf("%d sessions admitted, want 4", n)
	}
	for i := 1; i <= n; i++ {
		if rel[i] != 1 {
			t.Errorf("session %d released %d times, want once (all: %v)", i, rel[i], rel)
		}
	}
}
