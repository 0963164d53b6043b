package longpoll

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
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
}

func newEnv(t testing.TB, bcfg broker.Config, cfg Config) *env {
	t.Helper()
	b, l := brokertest.NewBroker(t, bcfg)
	h := New(b, cfg)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(h.Close)
	return &env{log: l, b: b, h: h, srv: srv}
}

// publish commits one event per type to room and returns them.
func (e *env) publish(t testing.TB, room string, types ...string) []*broker.Event {
	t.Helper()
	return brokertest.Publish(t, e.b, room, types...)
}

// pollResponse is the 200 body.
type pollResponse struct {
	Events []wireEvent `json:"events"`
	Next   *uint64     `json:"next"`
	Epoch  string      `json:"epoch"`
	Reset  *struct {
		Reason    string `json:"reason"`
		Room      string `json:"room"`
		Requested uint64 `json:"requested"`
		Resume    uint64 `json:"resume"`
	} `json:"reset"`
}

type wireEvent struct {
	Offset    uint64          `json:"offset"`
	ID        string          `json:"id"`
	Room      string          `json:"room"`
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
	Ephemeral bool            `json:"ephemeral"`
}

func (r pollResponse) offsets() []uint64 {
	var out []uint64
	for _, ev := range r.Events {
		out = append(out, ev.Offset)
	}
	return out
}

func (e *env) get(t testing.TB, ctx context.Context, query string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/poll?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET /poll?%s: %v", query, err)
	}
	return resp
}

// poll makes one poll that must succeed.
func (e *env) poll(t testing.TB, query string) pollResponse {
	t.Helper()
	r, err := e.tryPoll(query)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryPoll makes one poll and checks the 200 response's form. It does not
// use t, so it may run on any goroutine.
func (e *env) tryPoll(query string) (pollResponse, error) {
	var out pollResponse
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/poll?"+query, nil)
	if err != nil {
		return out, err
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return out, err
	}
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("GET /poll?%s: status %d: %s", query, resp.StatusCode, body)
	}
	if ct, cc := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"); ct != "application/json" || cc != "no-store" {
		return out, fmt.Errorf("Content-Type %q, Cache-Control %q", ct, cc)
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return out, fmt.Errorf("body %s: %v", body, err)
	}
	if out.Next == nil || out.Events == nil || out.Epoch != e.b.Epoch() {
		return out, fmt.Errorf("body %s: want events, next and epoch %q", body, e.b.Epoch())
	}
	return out, nil
}

// held is a poll running on its own goroutine.
type held struct {
	done chan struct{} // closed when the poll has returned
	resp pollResponse
	err  error
}

// holdPoll starts a poll on its own goroutine (awaited by the test's
// cleanup) and waits until the handler is serving it.
func holdPoll(t *testing.T, e *env, query string) *held {
	t.Helper()
	h := &held{done: make(chan struct{})}
	before, registered := e.h.Active(), e.h.Connections().Len()
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(h.done)
		h.resp, h.err = e.tryPoll(query)
	})
	t.Cleanup(wg.Wait)
	// Active counts the poll from its first line; the registration comes
	// after its subscription and history read, right before it is held.
	waitFor(t, "the poll to be held", func() bool {
		return e.h.Active() > before && e.h.Connections().Len() > registered
	})
	return h
}

// wait returns the poll's answer.
func (h *held) wait(t *testing.T) pollResponse {
	t.Helper()
	<-h.done
	if h.err != nil {
		t.Fatal(h.err)
	}
	return h.resp
}

// until calls fn every 10ms until the poll returns: for live polls, whose
// subscription starts a moment after the handler counts them active.
func (h *held) until(fn func()) {
	for {
		fn()
		select {
		case <-h.done:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

func seq(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// waitFor polls cond until it holds or 10s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
