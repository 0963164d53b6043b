package engineio_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
)

// TestParkedPostConnection: with Requeue, a keep-alive connection idle
// after a polling POST holds no goroutine; the client's next requests on
// it are served as before; IdleTimeout and Close close it.
func TestParkedPostConnection(t *testing.T) {
	var bl *engineio.Listener
	cfg := engineio.Config{PingInterval: time.Hour, PingTimeout: time.Hour, IdleTimeout: 300 * time.Millisecond,
		Requeue: func(c net.Conn) bool { return bl.Requeue(c) }}
	ts := &testServer{closed: make(chan string, 100), opened: make(chan *engineio.Conn, 100)}
	ts.engine = engineio.NewServer(cfg, func(c *engineio.Conn) {
		c.OnMessage(func(data []byte, binary bool) {
			_ = c.Send(engineio.Message{Data: data, Binary: binary})
		})
		c.OnClose(func(reason string) { ts.closed <- reason })
		ts.opened <- c
	})
	ts.Server = httptest.NewUnstartedServer(ts.engine)
	bl = engineio.NewListener(ts.Server.Listener)
	ts.Server.Listener = bl
	ts.Server.Start()
	t.Cleanup(func() {
		ts.Server.Close()
		ts.engine.Close()
	})

	const n = 32
	sids := make([]string, n)
	for i := range sids {
		sids[i] = openPolling(t, ts)
	}
	http.DefaultClient.CloseIdleConnections()
	before := runtime.NumGoroutine()
	posts := make([]net.Conn, n)
	brs := make([]*bufio.Reader, n)
	post := func(i int, body string) {
		t.Helper()
		req := "POST /engine.io/?EIO=4&transport=polling&sid=" + sids[i] + " HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		if _, err := io.WriteString(posts[i], req); err != nil {
			t.Fatal(err)
		}
		_ = posts[i].SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(brs[i], nil)
		if err != nil {
			t.Fatalf("POST %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "ok" || resp.Close {
			t.Fatalf("POST %d: %d %q close %v", i, resp.StatusCode, b, resp.Close)
		}
	}
	for i := range posts {
		c, err := net.Dial("tcp", ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		posts[i], brs[i] = c, bufio.NewReader(c)
		post(i, "4one")
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine()-before >= n/4 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines more with %d idle POST connections", runtime.NumGoroutine()-before, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The next request on each connection is served (requeued), the
	// session's queue holds both echoes.
	for i := range posts {
		post(i, "4two")
	}
	for i, sid := range sids[:4] {
		if status, body, _ := do(t, "GET", ts.url("transport=polling&sid="+sid), ""); status != 200 || body != "4one\x1e4two" {
			t.Errorf("session %d GET: %d %q", i, status, body)
		}
	}
	// A held GET is answered keeping its connection, which serves the
	// next GET.
	g := rawGet(t, ts, sids[5])
	gr := bufio.NewReader(g)
	for i := range 3 {
		if i > 0 {
			post(5, "4k"+strconv.Itoa(i))
		}
		_ = g.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(gr, nil)
		if err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := "4k" + strconv.Itoa(i)
		if i == 0 {
			want = "4one\x1e4two" // queued before the GET
		}
		if resp.StatusCode != 200 || resp.Close || string(b) != want {
			t.Fatalf("GET %d: %d close %v %q, want %q", i, resp.StatusCode, resp.Close, b, want)
		}
		if _, err := io.WriteString(g, "GET /engine.io/?EIO=4&transport=polling&sid="+sids[5]+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	// IdleTimeout closes a parked connection.
	time.Sleep(time.Second)
	_ = posts[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := posts[0].Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read of a connection idle past IdleTimeout: %v, want EOF", err)
	}
}
