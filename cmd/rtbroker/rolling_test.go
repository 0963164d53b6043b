package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/gateways/socketio/socketiotest"
)

// rollingEvent is what a client received: an offset and an event id.
type rollingEvent struct {
	Offset uint64
	ID     string
}

// rollingLog collects what one Go client received, safe for concurrent
// use.
type rollingLog struct {
	mu       sync.Mutex
	events   []rollingEvent
	resets   []string
	connects atomic.Int64 // streams opened, polls answered
}

func (l *rollingLog) add(off uint64, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, rollingEvent{off, id})
}

func (l *rollingLog) reset(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.resets = append(l.resets, s)
}

func (l *rollingLog) last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) == 0 {
		return 0
	}
	return l.events[len(l.events)-1].Offset
}

func (l *rollingLog) snapshot() ([]rollingEvent, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events), slices.Clone(l.resets)
}

// TestRollingRestart is a rolling restart under load, with the real
// binary: Socket.IO subscribers (WebSocket, and HTTP long-polling, with
// the real socket.io-client), an EventSource-like SSE reader (reconnects
// with Last-Event-ID after the server's retry hint) and a long-poll client
// (after=next) follow two rooms while an HTTP publisher (Idempotency-Key,
// retried until answered) and a Socket.IO publisher (acked emits) publish
// to them without pause; the server gets SIGTERM and a new process starts
// on the same data directory and port. Then every client has received
// every event of the two rooms in the log, exactly once and in order (the
// Socket.IO sockets with recovered === true on every reconnection), and
// every acknowledged event is in the log. Events whose ack was lost in the
// restart may be in the log: the log, read back, is what the clients are
// checked against, so they must have received those too.
func TestRollingRestart(t *testing.T) {
	node, _ := socketiotest.NeedNode(t)
	dir := t.TempDir()
	roomA, roomB := "rolling-a", "rolling-b"
	proc, base := startProcess(t, dir)
	addr := strings.TrimPrefix(base, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second) // the whole test's bound
	defer cancel()

	// Socket.IO subscribers and publisher (Node).
	sio := exec.Command(node, "testdata/rolling-clients.mjs", base, roomA, roomB)
	sio.Stderr = os.Stderr
	sioIn, _ := sio.StdinPipe()
	sioOut, _ := sio.StdoutPipe()
	if err := sio.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sio.Process.Kill(); sio.Wait() })
	lines := make(chan map[string]json.RawMessage, 16)
	go func() {
		sc := bufio.NewScanner(sioOut)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var m map[string]json.RawMessage
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				t.Errorf("node: %s", sc.Text())
				continue
			}
			if string(m["phase"]) == `"error"` {
				t.Errorf("node: %s", sc.Text())
				continue
			}
			lines <- m
		}
		close(lines)
	}()
	expectPhase := func(phase string) map[string]json.RawMessage {
		t.Helper()
		select {
		case m, ok := <-lines:
			if !ok || string(m["phase"]) != strconv.Quote(phase) {
				t.Fatalf("node: %v, want phase %s", m, phase)
			}
			return m
		case <-ctx.Done():
			t.Fatalf("node: no %s before the deadline", phase)
		}
		return nil
	}
	expectPhase("ready")

	// The SSE and long-poll clients.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	sseLog, pollLog := &rollingLog{}, &rollingLog{}
	wg.Go(func() { rollingSSE(ctx, base, []string{roomA, roomB}, sseLog) })
	wg.Go(func() { rollingPoll(ctx, base, []string{roomA, roomB}, pollLog) })

	// The publishers.
	var httpAcked []rollingEvent
	var httpCount atomic.Int64
	stopHTTP := make(chan struct{})
	httpDone := make(chan struct{})
	go func() {
		defer close(httpDone)
		c := newClient()
		c.Timeout = 5 * time.Second
		for n := 0; ; n++ {
			select {
			case <-stopHTTP:
				return
			default:
			}
			key := fmt.Sprint("rolling-", n)
			for ctx.Err() == nil { // the same key until answered: exactly once
				r, err := publish(c, base, roomA, "chat:message", fmt.Appendf(nil, `{"from":"http","n":%d}`, n), "Idempotency-Key", key)
				if err == nil && r.status == http.StatusCreated {
					httpAcked = append(httpAcked, rollingEvent{r.ev.Offset, r.ev.ID})
					httpCount.Add(1)
					break
				}
				if err == nil && r.status != http.StatusServiceUnavailable {
					t.Errorf("HTTP publish: %d %s", r.status, r.body)
					return
				}
				time.Sleep(20 * time.Millisecond) // refused, reset or 503 while the server restarts
			}
		}
	}()
	fmt.Fprintln(sioIn, "publish")
	waitCount := func(n int64) {
		t.Helper()
		for httpCount.Load() < n {
			if ctx.Err() != nil || t.Failed() {
				t.Fatalf("only %d HTTP publishes acknowledged", httpCount.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitCount(100)

	// The rolling restart: SIGTERM, wait for the exit, a new process on the
	// same data directory and address.
	if err := proc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the old process after SIGTERM: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the old process did not exit after SIGTERM")
	}
	before := httpCount.Load()
	_, base2 := startProcess(t, dir, "--addr", addr)
	if base2 != base {
		t.Fatalf("the new process listens on %s, want %s", base2, base)
	}
	waitCount(before + 100)
	close(stopHTTP)
	<-httpDone
	fmt.Fprintln(sioIn, "stop")
	published := expectPhase("published")
	var sioAcked [][2]json.RawMessage
	var sioLost int
	json.Unmarshal(published["acked"], &sioAcked)
	json.Unmarshal(published["lost"], &sioLost)

	// A last event in each room: once every client has it, it has
	// everything before it.
	c := newClient()
	defer c.CloseIdleConnections()
	mustPublish(t, c, base, roomB, "chat:message", []byte(`{"from":"marker"}`))
	marker := mustPublish(t, c, base, roomA, "chat:message", []byte(`{"from":"marker"}`)).Offset
	fmt.Fprintln(sioIn, "expect", marker)
	received := expectPhase("received")
	for _, l := range []*rollingLog{sseLog, pollLog} {
		for l.last() < marker {
			if ctx.Err() != nil {
				t.Fatalf("SSE at %d, long-poll at %d; want %d", sseLog.last(), pollLog.last(), marker)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// The log is the truth: the two rooms' events, in offset order.
	snap := readLog(t, c, base)
	var want []rollingEvent
	for _, ev := range snap.after([]string{roomA, roomB}, 0) {
		want = append(want, rollingEvent{ev.Offset, ev.ID})
	}
	for _, a := range httpAcked {
		if got, ok := snap.byOffset[a.Offset]; !ok || got.ID != a.ID {
			t.Errorf("HTTP publish acknowledged %d %s, the log has %s", a.Offset, a.ID, got)
		}
	}
	for _, a := range sioAcked {
		var off uint64
		var id string
		json.Unmarshal(a[0], &off)
		json.Unmarshal(a[1], &id)
		if got, ok := snap.byOffset[off]; !ok || got.ID != id {
			t.Errorf("Socket.IO publish acknowledged %d %s, the log has %s", off, id, got)
		}
	}
	// Every HTTP publish is in the log once: a retry whose first try was
	// committed (its answer lost in the restart) returned the first event.
	seen := map[string]uint64{}
	for _, ev := range snap.rooms[roomA] {
		if prev, dup := seen[string(ev.Data)]; dup {
			t.Errorf("HTTP publish %s is in the log twice: %d and %d", ev.Data, prev, ev.Offset)
		}
		seen[string(ev.Data)] = ev.Offset
	}

	check := func(name string, got []rollingEvent, resets []string) {
		t.Helper()
		if len(resets) > 0 {
			t.Errorf("%s was told of resets: %v", name, resets)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s received %d events, the log has %d: %s", name, len(got), len(want), firstDiff(got, want))
		}
	}
	if n := sseLog.connects.Load(); n < 2 {
		t.Errorf("the SSE reader opened %d streams: it did not reconnect", n)
	}
	sseEvents, sseResets := sseLog.snapshot()
	check("SSE", sseEvents, sseResets)
	pollEvents, pollResets := pollLog.snapshot()
	check("long-poll", pollEvents, pollResets)
	var sockets []struct {
		Name       string               `json:"name"`
		Events     [][2]json.RawMessage `json:"events"`
		Reconnects []struct {
			Recovered bool `json:"recovered"`
		} `json:"reconnects"`
	}
	json.Unmarshal(received["sockets"], &sockets)
	for _, s := range sockets {
		var got []rollingEvent
		for _, e := range s.Events {
			var ev rollingEvent
			json.Unmarshal(e[0], &ev.Offset)
			json.Unmarshal(e[1], &ev.ID)
			got = append(got, ev)
		}
		check("Socket.IO ("+s.Name+")", got, nil)
		if len(s.Reconnects) == 0 {
			t.Errorf("Socket.IO (%s) never reconnected", s.Name)
		}
		for i, r := range s.Reconnects {
			if !r.Recovered {
				t.Errorf("Socket.IO (%s): reconnection %d was not recovered", s.Name, i+1)
			}
		}
	}
	t.Logf("log: %d events in the two rooms; acknowledged: %d over HTTP, %d over Socket.IO (%d Socket.IO publishes without an ack)", len(want), len(httpAcked), len(sioAcked), sioLost)
	fmt.Fprintln(sioIn, "quit")
}

// firstDiff describes where got and want first differ.
func firstDiff(got, want []rollingEvent) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at #%d: got %v, want %v", i, got[i:min(i+5, len(got))], want[i:min(i+5, len(want))])
		}
	}
	return fmt.Sprintf("one is a prefix of the other (got %d, want %d)", len(got), len(want))
}

// rollingSSE reads rooms over SSE as EventSource does: from the start,
// and after the stream ends or fails, again after the server's retry hint
// (at most 1 s) with Last-Event-ID, until ctx ends.
func rollingSSE(ctx context.Context, base string, rooms []string, l *rollingLog) {
	q := url.Values{"room": rooms}
	u := base + "/sse?" + q.Encode()
	c := newStreamClient()
	retry := 100 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		from := u
		if first {
			from += "&after=0"
		}
		last := ""
		if off := l.last(); off > 0 {
			last = strconv.FormatUint(off, 10)
		}
		s, err := openSSE(ctx, c, from, last)
		if err != nil {
			sleepCtx(ctx, retry)
			continue
		}
		first = false
		l.connects.Add(1)
		for {
			f, err := s.next()
			if err != nil {
				break
			}
			if f.retry != "" {
				if ms, err := strconv.Atoi(f.retry); err == nil {
					retry = min(time.Duration(ms)*time.Millisecond, time.Second)
				}
			}
			if f.event == "reset" {
				l.reset(strings.Join(f.data, "\n"))
				continue
			}
			if len(f.data) == 0 || !f.hasID {
				continue
			}
			ev, err := frameEvent(f)
			if err != nil {
				l.reset(err.Error())
				continue
			}
			l.add(ev.Offset, ev.ID)
		}
		s.close()
		sleepCtx(ctx, retry)
	}
}

// rollingPoll reads rooms by long-polling from after=0, continuing with
// after=next, retrying failed polls, until ctx ends.
func rollingPoll(ctx context.Context, base string, rooms []string, l *rollingLog) {
	c := newStreamClient()
	var after uint64
	for ctx.Err() == nil {
		q := url.Values{"room": rooms, "after": {strconv.FormatUint(after, 10)}, "timeout": {"2s"}}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/poll?"+q.Encode(), nil)
		resp, err := c.Do(req)
		if err != nil {
			sleepCtx(ctx, 50*time.Millisecond)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		var p page
		if err != nil || resp.StatusCode != http.StatusOK || json.Unmarshal(body, &p) != nil {
			sleepCtx(ctx, 50*time.Millisecond) // 503 while stopping, or a cut answer
			continue
		}
		l.connects.Add(1)
		if p.Reset != nil {
			l.reset(string(*p.Reset))
		}
		for _, ev := range p.Events {
			l.add(ev.Offset, ev.ID)
		}
		after = p.Next
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
