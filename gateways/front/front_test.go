package front

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer is an http.Server on 127.0.0.1:0 behind a front that serves
// POST /fast and GET /hijack; its handler answers who served the request
// (front or net/http), the body it read, and the Host.
type testServer struct {
	addr   string
	fl     *Listener
	srv    *http.Server
	mu     sync.Mutex
	states []string // ConnState calls of the front's connections, in order
	block  chan struct{}
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	ts := &testServer{block: make(chan struct{})}
	close(ts.block)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		by := "front"
		if r.Context().Value(http.ServerContextKey) != nil {
			by = "net/http"
		}
		if r.URL.Query().Get("block") != "" {
			<-ts.block
		}
		if r.URL.Query().Get("fields") != "" { // the request's fields; a field in the answer if asked
			if r.URL.Query().Get("mark") != "" {
				w.Header().Set("X-Mark", "1")
			}
			var fields []string
			for _, k := range slices.Sorted(maps.Keys(r.Header)) {
				fields = append(fields, k+"="+strings.Join(r.Header[k], ","))
			}
			fmt.Fprintf(w, "%s %s", by, strings.Join(fields, " "))
			return
		}
		if r.URL.Query().Get("noread") != "" {
			fmt.Fprintf(w, "%s %s", by, r.Method)
			return
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Host", r.Host)
		fmt.Fprintf(w, "%s %s %s [%s]", by, r.Method, r.URL.Path, b)
	})
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer nc.Close()
		early := make([]byte, brw.Reader.Buffered())
		io.ReadFull(brw.Reader, early)
		fmt.Fprintf(nc, "hijacked [%s]", early)
	})
	ts.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	ts.srv.ConnState = func(c net.Conn, st http.ConnState) {
		if _, ok := c.(*net.TCPConn); ok { // the front's (net/http's are wrapped once read)
			ts.mu.Lock()
			ts.states = append(ts.states, st.String())
			ts.mu.Unlock()
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	route := func(method, path string, h http.Header) bool {
		return method == http.MethodPost && path == "/fast" || method == http.MethodGet && path == "/hijack"
	}
	ts.fl = New(ln, ts.srv, route, 5*time.Second)
	ts.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { ts.srv.Serve(ts.fl); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ts.srv.Shutdown(ctx)
		ts.fl.Shutdown(ctx)
		<-done
	})
	return ts
}

// dial opens a connection to ts and returns it with a reader of answers.
func (ts *testServer) dial(t *testing.T) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// answer reads one answer and returns its status, its body and whether
// it closes the connection.
func answer(t *testing.T, br *bufio.Reader) (status int, body string, closes bool) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer body: %v", err)
	}
	return resp.StatusCode, string(b), resp.Close
}

func post(path, body string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: example.test\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
}

func TestFrontServesItsRoutesAndHandsOverTheRest(t *testing.T) {
	ts := newTestServer(t)
	c, br := ts.dial(t)
	for _, tc := range []struct {
		name, send string
		want       []string
	}{
		{name: "a route, keep-alive", send: post("/fast", "one"), want: []string{"front POST /fast [one]"}},
		{name: "the same connection again", send: post("/fast", "two"), want: []string{"front POST /fast [two]"}},
		{name: "pipelined, body in pieces", send: post("/fast", "three") + post("/fast", "four"), want: []string{"front POST /fast [three]", "front POST /fast [four]"}},
		{name: "a route, then another path: net/http from there on", send: post("/fast", "five") + post("/other", "six"), want: []string{"front POST /fast [five]", "net/http POST /other [six]"}},
		{name: "the route again, now with net/http", send: post("/fast", "seven"), want: []string{"net/http POST /fast [seven]"}},
	} {
		if _, err := io.WriteString(c, tc.send); err != nil {
			t.Fatal(err)
		}
		for _, want := range tc.want {
			if status, body, _ := answer(t, br); status != 200 || body != want {
				t.Errorf("%s: %d %q, want 200 %q", tc.name, status, body, want)
			}
		}
	}
}

func TestFrontLeavesWhatItIsNotSureOfToNetHTTP(t *testing.T) {
	ts := newTestServer(t)
	long := strings.Repeat("a", 5000)
	for _, tc := range []struct {
		name, send, want string
		status           int
	}{
		{name: "chunked", send: "POST /fast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", status: 200, want: "net/http POST /fast [abc]"},
		{name: "HTTP/1.0", send: "POST /fast HTTP/1.0\r\nHost: x\r\nContent-Length: 2\r\n\r\nab", status: 200, want: "net/http POST /fast [ab]"},
		{name: "two lengths", send: "POST /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", status: 400},
		{name: "no Host", send: "POST /fast HTTP/1.1\r\nContent-Length: 2\r\n\r\nab", status: 400},
		{name: "a head larger than the buffer", send: "POST /fast HTTP/1.1\r\nHost: x\r\nX-Long: " + long + "\r\nContent-Length: 2\r\n\r\nab", status: 200, want: "net/http POST /fast [ab]"},
		{name: "expect", send: "POST /fast HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab", status: 200, want: "net/http POST /fast [ab]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, br := ts.dial(t)
			io.WriteString(c, tc.send)
			status, body, _ := answer(t, br)
			if status == 100 {
				status, body, _ = answer(t, br)
			}
			if status != tc.status || tc.want != "" && body != tc.want {
				t.Errorf("%d %q, want %d %q", status, body, tc.status, tc.want)
			}
		})
	}
}

// TestFrontFieldsAreEachRequestsOwn checks that the header maps a
// connection reuses carry nothing from one request to the next: a
// request sees its own fields only, an answer its own.
func TestFrontFieldsAreEachRequestsOwn(t *testing.T) {
	ts := newTestServer(t)
	c, br := ts.dial(t)
	for _, tc := range []struct {
		name, send, want string
		mark             bool
	}{
		{name: "first", send: "POST /fast?fields=1&mark=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-A: 2\r\nx-c: 3\r\n\r\n", want: "front Host=x X-A=1,2 X-C=3", mark: true},
		{name: "second", send: "POST /fast?fields=1 HTTP/1.1\r\nHost: y\r\nX-B: 4\r\n\r\n", want: "front Host=y X-B=4"},
		{name: "third", send: "POST /fast?fields=1 HTTP/1.1\r\nHost: y\r\n\r\n", want: "front Host=y"},
	} {
		io.WriteString(c, tc.send)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != tc.want || (resp.Header.Get("X-Mark") != "") != tc.mark {
			t.Errorf("%s: %q with X-Mark %q, want %q (marked %v)", tc.name, b, resp.Header.Get("X-Mark"), tc.want, tc.mark)
		}
	}
}

func TestFrontClosesWhenTheBodyIsNotRead(t *testing.T) {
	ts := newTestServer(t)
	c, br := ts.dial(t)
	io.WriteString(c, post("/fast?noread=1", "unread")+post("/fast", "next"))
	status, body, conn := answer(t, br)
	if status != 200 || body != "front POST" || !conn {
		t.Fatalf("%d %q close %v, want 200 %q and close", status, body, conn, "front POST")
	}
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the answer: %d bytes, %v; want EOF", n, err)
	}
}

func TestFrontHijack(t *testing.T) {
	ts := newTestServer(t)
	c, br := ts.dial(t)
	io.WriteString(c, "GET /hijack HTTP/1.1\r\nHost: x\r\n\r\nearly")
	b, err := io.ReadAll(br)
	if err != nil || string(b) != "hijacked [early]" {
		t.Fatalf("%q, %v; want %q", b, err, "hijacked [early]")
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if got := strings.Join(ts.states, " "); got != "new active hijacked" {
		t.Errorf("ConnState calls %q, want %q", got, "new active hijacked")
	}
}

func TestFrontConnStates(t *testing.T) {
	ts := newTestServer(t)
	c, br := ts.dial(t)
	io.WriteString(c, post("/fast", "a"))
	answer(t, br)
	io.WriteString(c, post("/fast", "b"))
	answer(t, br)
	c.Close()
	want := "new active idle active idle closed"
	deadline := time.Now().Add(5 * time.Second)
	for {
		ts.mu.Lock()
		got := strings.Join(ts.states, " ")
		ts.mu.Unlock()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ConnState calls %q, want %q", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFrontShutdown(t *testing.T) {
	ts := newTestServer(t)
	idle, idleR := ts.dial(t)
	io.WriteString(idle, post("/fast", "a"))
	answer(t, idleR)

	partial, partialR := ts.dial(t)
	io.WriteString(partial, "POST /fast HTTP/1.1\r\nHost: x\r\nContent-Le") // a head that never ends

	ts.block = make(chan struct{})
	busy, busyR := ts.dial(t)
	io.WriteString(busy, post("/fast?block=1", "b"))
	time.Sleep(100 * time.Millisecond) // the request is in its handler

	ended := make(chan error, 1)
	go func() { ended <- ts.fl.Shutdown(context.Background()) }()
	if n, err := idleR.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection after Shutdown: %d bytes, %v; want EOF", n, err)
	}
	partial.SetDeadline(time.Now().Add(2 * time.Second)) // well before ReadHeaderTimeout (5 s)
	if n, err := partialR.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("connection with half a head after Shutdown: %d bytes, %v; want EOF", n, err)
	}
	select {
	case err := <-ended:
		t.Fatalf("Shutdown returned (%v) with a request in its handler", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(ts.block)
	status, body, conn := answer(t, busyR)
	if status != 200 || body != "front POST /fast [b]" || !conn {
		t.Fatalf("request in flight at Shutdown: %d %q close %v", status, body, conn)
	}
	if err := <-ended; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", ts.addr); err == nil {
		t.Fatal("a connection was accepted after Shutdown")
	}
}

func TestFrontAnswerFields(t *testing.T) {
	ts := newTestServer(t)
	c, br := ts.dial(t)
	io.WriteString(c, post("/fast", "x"))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != int64(len("front POST /fast [x]")) || resp.Header.Get("Date") == "" ||
		resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("X-Host") != "example.test" {
		t.Errorf("answer fields %v, length %d", resp.Header, resp.ContentLength)
	}
}
