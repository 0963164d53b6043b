package sse

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
)

// env is a real broker on an in-memory log, served by a Handler on an
// httptest server. Cleanup closes the handler, the server, the broker and
// the log, in that order.
type env struct {
	log *brokertest.MemLog
	b   *broker.Broker
	h   *Handler
	srv *httptest.Server
	h2  bool // the server speaks HTTP/2 over TLS
}

func newEnv(t testing.TB, bcfg broker.Config, cfg Config) *env {
	t.Helper()
	return newEnvOn(t, false, bcfg, cfg)
}

// transports are the two ways the Handler serves a stream: on a hijacked
// HTTP/1.1 connection (a task of its pool), and on the request's
// goroutine (HTTP/2, over TLS).
var transports = []struct {
	name string
	h2   bool
}{{name: "http1"}, {name: "http2", h2: true}}

// newEnvOn is newEnv with the server speaking HTTP/2 over TLS when h2 is
// set (the client too), plain HTTP/1.1 otherwise.
func newEnvOn(t testing.TB, h2 bool, bcfg broker.Config, cfg Config) *env {
	t.Helper()
	b, l := brokertest.NewBroker(t, bcfg)
	h := New(b, cfg)
	srv := httptest.NewUnstartedServer(h)
	if h2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	t.Cleanup(h.Close)
	return &env{log: l, b: b, h: h, srv: srv, h2: h2}
}

// publish commits one event per type to room and returns them.
func (e *env) publish(t testing.TB, room string, types ...string) []*broker.Event {
	t.Helper()
	return brokertest.Publish(t, e.b, room, types...)
}

// frame is one block of an SSE stream (lines up to a blank line).
type frame struct {
	id       string
	hasID    bool
	event    string
	data     string
	retry    string
	comments []string
}

// isEvent reports whether the block dispatches an event (it has data).
func (f frame) isEvent() bool { return f.data != "" }

// sseReader parses a text/event-stream the way EventSource does, keeping
// comments and retry fields so tests can see heartbeats and hints.
type sseReader struct {
	r    *bufio.Reader
	body io.Closer
}

// next returns the next block. It returns io.EOF at the end of the stream.
func (s *sseReader) next() (frame, error) {
	var f frame
	var data []string
	seen := false
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if err == io.EOF && (seen || line != "") {
				return f, io.ErrUnexpectedEOF
			}
			return f, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if !seen {
				continue
			}
			f.data = strings.Join(data, "\n")
			return f, nil
		}
		seen = true
		if c, ok := strings.CutPrefix(line, ":"); ok {
			f.comments = append(f.comments, strings.TrimPrefix(c, " "))
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "id":
			f.id, f.hasID = value, true
		case "event":
			f.event = value
		case "data":
			data = append(data, value)
		case "retry":
			f.retry = value
		}
	}
}

// nextEvent skips blocks without data (retry hints, heartbeats).
func (s *sseReader) nextEvent() (frame, error) {
	for {
		f, err := s.next()
		if err != nil || f.isEvent() {
			return f, err
		}
	}
}

// open starts a stream and checks that it is one. The request ends with
// the test (or after 20s), so a read never hangs forever.
func (e *env) open(t testing.TB, query string, header http.Header) *sseReader {
	t.Helper()
	resp := e.get(t, query, header)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("GET /sse?%s: status %d: %s", query, resp.StatusCode, b)
	}
	if want := map[bool]int{false: 1, true: 2}[e.h2]; resp.ProtoMajor != want {
		t.Fatalf("stream over %s, want HTTP/%d", resp.Proto, want)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	for k, want := range map[string]string{"Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	r := &sseReader{r: bufio.NewReader(resp.Body), body: resp.Body}
	t.Cleanup(func() { resp.Body.Close() })
	return r
}

func (e *env) get(t testing.TB, query string, header http.Header) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/sse?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET /sse?%s: %v", query, err)
	}
	return resp
}

// wireEvent is the event JSON carried in data.
type wireEvent struct {
	Offset    uint64          `json:"offset"`
	ID        string          `json:"id"`
	Room      string          `json:"room"`
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
	Ephemeral bool            `json:"ephemeral"`
}

// readEvents reads n events and checks each frame's id and event name
// against its data.
func readEvents(t testing.TB, r *sseReader, n int) []wireEvent {
	t.Helper()
	var out []wireEvent
	for len(out) < n {
		f, err := r.nextEvent()
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(out), n, err)
		}
		if f.event == "reset" {
			t.Fatalf("unexpected reset: %s", f.data)
		}
		var ev wireEvent
		if err := json.Unmarshal([]byte(f.data), &ev); err != nil {
			t.Fatalf("event data %q: %v", f.data, err)
		}
		if f.event != ev.Type {
			t.Errorf("event: %q, data type %q", f.event, ev.Type)
		}
		switch {
		case ev.Ephemeral && f.hasID:
			t.Errorf("ephemeral event has id %q", f.id)
		case !ev.Ephemeral && f.id != fmt.Sprint(ev.Offset):
			t.Errorf("id: %q, data offset %d", f.id, ev.Offset)
		}
		out = append(out, ev)
	}
	return out
}

func offsets(evs []wireEvent) []uint64 {
	var out []uint64
	for _, ev := range evs {
		out = append(out, ev.Offset)
	}
	return out
}

func seq(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

// waitFor polls cond until it holds or 10s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
