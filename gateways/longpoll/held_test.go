package longpoll

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
	"github.com/rtbroker/rtbroker/gateways/limit"
)

// rawPoll sends a poll on a connection of its own and returns the
// connection, unread.
func rawPoll(t *testing.T, e *env, query string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET /poll?"+query+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

// readRaw reads one response from c.
func readRaw(t *testing.T, c net.Conn) (*http.Response, []byte) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestHeldPollsHoldNoGoroutine: a held poll is a task, not a goroutine
// parked on the connection (net/http's serving and reading goroutines end
// with the hijack).
func TestHeldPollsHoldNoGoroutine(t *testing.T) {
	e := newEnv(t, broker.Config{}, Config{})
	const n = 64
	before := runtime.NumGoroutine()
	cs := make([]net.Conn, n)
	for i := range cs {
		cs[i] = rawPoll(t, e, q("room", "a", "timeout", "60s"))
	}
	waitFor(t, "the polls to be held", func() bool { return e.h.Connections().Len() == n })
	waitFor(t, "net/http's goroutines to end", func() bool { return runtime.NumGoroutine()-before < n/4 })
	e.publish(t, "a", "t1")
	for _, c := range cs {
		resp, body := readRaw(t, c)
		var got pollResponse
		if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != http.StatusOK || len(got.Events) != 1 {
			t.Fatalf("status %d body %s, want 200 with the event", resp.StatusCode, body)
		}
	}
}

// TestHeldAnswerLikeImmediate: a held poll is answered with the same
// status, headers (those set by middleware too) and body as a poll
// answered at once, and then its connection closes.
func TestHeldAnswerLikeImmediate(t *testing.T) {
	b, _ := newEnvBroker(t)
	h := New(b, Config{})
	t.Cleanup(h.Close)
	mw := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "https://app.example")
		w.Header().Set("Vary", "Origin")
		h.ServeHTTP(w, r)
	})
	e := &env{b: b, h: h, srv: newServer(t, mw)}
	c := rawPoll(t, e, q("room", "a", "after", "0", "timeout", "60s"))
	waitFor(t, "the poll to be held", func() bool { return e.h.Connections().Len() == 1 })
	e.publish(t, "a", "t1")
	held, heldBody := readRaw(t, c)
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after the answer: %v, want EOF (the connection closes)", err)
	}
	if got := held.Header.Get("Connection"); !strings.EqualFold(got, "close") && !held.Close {
		t.Errorf("Connection %q, want close", got)
	}
	c2 := rawPoll(t, e, q("room", "a", "after", "0", "timeout", "60s"))
	now, nowBody := readRaw(t, c2)
	if string(heldBody) != string(nowBody) {
		t.Errorf("held body %s\nimmediate body %s", heldBody, nowBody)
	}
	for _, k := range []string{"Content-Type", "Cache-Control", "X-Content-Type-Options", "Content-Length", "Access-Control-Allow-Origin", "Vary"} {
		if held.Header.Get(k) != now.Header.Get(k) || held.Header.Get(k) == "" {
			t.Errorf("%s: held %q, immediate %q", k, held.Header.Get(k), now.Header.Get(k))
		}
	}
	if held.StatusCode != now.StatusCode || held.Header.Get("Date") == "" {
		t.Errorf("held status %d date %q, immediate %d", held.StatusCode, held.Header.Get("Date"), now.StatusCode)
	}
}

// TestHeldPollTimeoutAndKick: a held poll's timeout answers it with no
// events and the same next; so does an operator's Disconnect.
func TestHeldPollTimeoutAndKick(t *testing.T) {
	e := newEnv(t, broker.Config{}, Config{})
	e.publish(t, "a", "t1")
	c := rawPoll(t, e, q("room", "a", "after", "1", "timeout", "200ms"))
	resp, body := readRaw(t, c)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), `{"events":[],"next":1,`) {
		t.Errorf("timeout: %d %s", resp.StatusCode, body)
	}
	waitFor(t, "the poll to end", func() bool { return e.h.Active() == 0 && e.h.Connections().Len() == 0 })
	c = rawPoll(t, e, q("room", "a", "after", "1", "timeout", "60s"))
	waitFor(t, "the poll to be held", func() bool { return e.h.Connections().Len() == 1 })
	e.h.Connections().Snapshot()[0].Disconnect()
	resp, body = readRaw(t, c)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), `{"events":[],"next":1,`) {
		t.Errorf("disconnect: %d %s", resp.StatusCode, body)
	}
	waitFor(t, "the poll to end", func() bool { return e.h.Active() == 0 && e.h.Connections().Len() == 0 })
}

// TestHeldPollHangUpReleasesSlot: a client that hangs up while held gives
// its connection slot (limit.Conns) back at once, and nothing is written.
func TestHeldPollHangUpReleasesSlot(t *testing.T) {
	b, _ := newEnvBroker(t)
	h := New(b, Config{})
	t.Cleanup(h.Close)
	lim := limit.NewConns(1)
	e := &env{b: b, h: h, srv: newServer(t, lim.Middleware(h))}
	c := rawPoll(t, e, q("room", "a", "timeout", "60s"))
	waitFor(t, "the poll to be held", func() bool { return e.h.Connections().Len() == 1 })
	c2 := rawPoll(t, e, q("room", "a", "timeout", "60s"))
	if resp, body := readRaw(t, c2); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second poll: %d %s, want 429 over the cap", resp.StatusCode, body)
	}
	c.Close()
	waitFor(t, "the poll to be released", func() bool { return e.h.Active() == 0 && lim.Len() == 0 })
	c3 := rawPoll(t, e, q("room", "a", "timeout", "60s"))
	waitFor(t, "the next poll to be held", func() bool { return e.h.Connections().Len() == 1 })
	c3.Close()
}

func newEnvBroker(t *testing.T) (*broker.Broker, *brokertest.MemLog) {
	t.Helper()
	return brokertest.NewBroker(t, broker.Config{})
}

// newServer serves h on a real server, closed by the test's cleanup.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// backListener accepts from its listener and returns the connections
// requeued to it (what the command's engineio.Listener does).
type backListener struct {
	net.Listener
	back chan net.Conn
	in   chan net.Conn
	done chan struct{}
}

func newBackListener(l net.Listener) *backListener {
	b := &backListener{Listener: l, back: make(chan net.Conn, 64), in: make(chan net.Conn), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b.in <- c
		}
	}()
	return b
}

func (b *backListener) Accept() (net.Conn, error) {
	select {
	case c := <-b.back:
		return c, nil
	case c := <-b.in:
		return c, nil
	case <-b.done:
		return nil, net.ErrClosed
	}
}

func (b *backListener) requeue(c net.Conn) bool {
	select {
	case b.back <- c:
		return true
	case <-b.done:
		return false
	}
}

// TestHeldPollKeepAlive: with Requeue, a held poll is answered without
// Connection: close and the client's next poll on the same connection is
// served (and held) again.
func TestHeldPollKeepAlive(t *testing.T) {
	b, _ := newEnvBroker(t)
	var bl *backListener
	h := New(b, Config{Requeue: func(c net.Conn) bool { return bl.requeue(c) }})
	t.Cleanup(h.Close)
	srv := httptest.NewUnstartedServer(h)
	bl = newBackListener(srv.Listener)
	srv.Listener = bl
	srv.Start()
	t.Cleanup(srv.Close)
	e := &env{b: b, h: h, srv: srv}
	c := rawPoll(t, e, q("room", "a", "after", "0", "timeout", "60s"))
	br := bufio.NewReader(c)
	for i := 1; i <= 3; i++ {
		waitFor(t, "the poll to be held", func() bool { return e.h.Connections().Len() == 1 })
		e.publish(t, "a", "t")
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("poll %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got pollResponse
		if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 || resp.Close || len(got.Events) != 1 || got.Events[0].Offset != uint64(i) {
			t.Fatalf("poll %d: %d close %v %s", i, resp.StatusCode, resp.Close, body)
		}
		waitFor(t, "the poll to end", func() bool { return e.h.Active() == 0 })
		if _, err := io.WriteString(c, "GET /poll?"+q("room", "a", "after", strconv.Itoa(i), "timeout", "60s")+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
}
