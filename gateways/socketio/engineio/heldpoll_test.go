package engineio_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
)

// rawGet sends a polling GET of session sid on a connection of its own
// and returns the connection, unread.
func rawGet(t *testing.T, ts *testServer, sid string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET /engine.io/?EIO=4&transport=polling&sid="+sid+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

func readAnswer(t *testing.T, c net.Conn) (*http.Response, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestHeldPoll: a waiting polling GET holds no goroutine; it is answered
// (with the same payload and headers as on a request goroutine, then
// Connection: close) when its session sends, and a client that hangs up
// while its GET waits ends the session with a transport error, as when
// the request is cancelled.
func TestHeldPoll(t *testing.T) {
	cfg := engineio.Config{PingInterval: time.Hour, PingTimeout: time.Hour}
	ts := &testServer{closed: make(chan string, 100), opened: make(chan *engineio.Conn, 100)}
	ts.engine = engineio.NewServer(cfg, func(c *engineio.Conn) {
		c.OnMessage(func(data []byte, binary bool) {
			_ = c.Send(engineio.Message{Data: data, Binary: binary})
		})
		c.OnClose(func(reason string) { ts.closed <- reason })
		ts.opened <- c
	})
	var hijacked atomic.Int64
	ts.Server = httptest.NewUnstartedServer(ts.engine)
	ts.Server.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateHijacked {
			hijacked.Add(1)
		}
	}
	ts.Server.Start()
	t.Cleanup(func() {
		ts.Server.Close()
		ts.engine.Close()
	})
	const n = 32
	sids := make([]string, n)
	conns := make([]*engineio.Conn, n)
	for i := range sids {
		sids[i] = openPolling(t, ts)
		conns[i] = <-ts.opened
	}
	before := runtime.NumGoroutine()
	gets := make([]net.Conn, n)
	for i, sid := range sids {
		gets[i] = rawGet(t, ts, sid)
	}
	deadline := time.Now().Add(10 * time.Second)
	for hijacked.Load() < n || runtime.NumGoroutine()-before >= n/4 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines more with %d GETs waiting", runtime.NumGoroutine()-before, n)
		}
		time.Sleep(5 * time.Millisecond)
	}

	if err := conns[0].SendText([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	resp, body := readAnswer(t, gets[0])
	if resp.StatusCode != 200 || body != "4hello" || !resp.Close ||
		resp.Header.Get("Content-Type") != "text/plain; charset=UTF-8" || resp.Header.Get("Date") == "" {
		t.Errorf("answer %d %q close %v header %v", resp.StatusCode, body, resp.Close, resp.Header)
	}
	// The next GET on an ordinary client is served as before.
	if status, body, _ := do(t, "POST", ts.url("transport=polling&sid="+sids[0]), "4again"); status != 200 {
		t.Fatalf("POST %d %s", status, body)
	}
	if status, body, _ := do(t, "GET", ts.url("transport=polling&sid="+sids[0]), ""); status != 200 || body != "4again" {
		t.Errorf("next GET %d %q", status, body)
	}

	gets[1].Close()
	ts.waitClosed(t, engineio.ReasonTransportError)
	if status, _, _ := do(t, "GET", ts.url("transport=polling&sid="+sids[1]), ""); status != 400 {
		t.Errorf("GET of the closed session: %d, want 400", status)
	}
	// Close answers the GETs still waiting with a close packet.
	go ts.engine.Close()
	for _, c := range gets[2:] {
		if resp, body := readAnswer(t, c); resp.StatusCode != 200 || body != "1" {
			t.Errorf("at Close: %d %q, want the close packet", resp.StatusCode, body)
		}
	}
}
