package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// System tests: the real server (in-process with startServer, or the built
// binary with startProcess) on a real bbolt file, driven over real HTTP on
// 127.0.0.1. Every check reads the log back over the public API.

// wireEvent is a committed event as the REST API, SSE data lines and
// long-poll answers carry it.
type wireEvent struct {
	Offset uint64          `json:"offset"`
	ID     string          `json:"id"`
	Room   string          `json:"room"`
	Type   string          `json:"type"`
	Data   json.RawMessage `json:"data"`
	Time   string          `json:"time"`
	From   string          `json:"from"`
}

// same reports whether e and o are the same committed event.
func (e wireEvent) same(o wireEvent) bool {
	return e.Offset == o.Offset && e.ID == o.ID && e.Room == o.Room && e.Type == o.Type && bytes.Equal(e.Data, o.Data)
}

func (e wireEvent) String() string {
	return fmt.Sprintf("#%d %s/%s %s", e.Offset, e.Room, e.Type, e.ID)
}

// page is a history or long-poll answer.
type page struct {
	Events []wireEvent      `json:"events"`
	Next   uint64           `json:"next"`
	Head   uint64           `json:"head"`
	Epoch  string           `json:"epoch"`
	Reset  *json.RawMessage `json:"reset"`
}

// newClient returns a client with its own keep-alive connection pool.
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 60 * time.Second}
}

// newStreamClient returns a client for SSE streams: no overall timeout (the
// caller's context bounds the stream).
func newStreamClient() *http.Client {
	return &http.Client{Transport: &http.Transport{}}
}

// pubResult is the answer to one publish.
type pubResult struct {
	status int
	ev     wireEvent // decoded when status is 201
	body   []byte
	header http.Header
}

// publish POSTs {"type":typ,"data":data} to room with optional header
// name/value pairs. err is set when no complete answer came back.
func publish(c *http.Client, base, room, typ string, data []byte, hdr ...string) (pubResult, error) {
	body := fmt.Appendf(nil, `{"type":%q,"data":%s}`, typ, data)
	req, err := http.NewRequest(http.MethodPost, base+"/api/rooms/"+room+"/events", bytes.NewReader(body))
	if err != nil {
		return pubResult{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return pubResult{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return pubResult{status: resp.StatusCode}, err
	}
	r := pubResult{status: resp.StatusCode, body: b, header: resp.Header}
	if resp.StatusCode == http.StatusCreated {
		if err := json.Unmarshal(b, &r.ev); err != nil {
			return r, fmt.Errorf("decode 201 body %q: %w", b, err)
		}
	}
	return r, nil
}

// mustPublish publishes and fails the test unless the event was committed
// as sent.
func mustPublish(t testing.TB, c *http.Client, base, room, typ string, data []byte) wireEvent {
	t.Helper()
	r, err := publish(c, base, room, typ, data)
	if err != nil {
		t.Fatalf("publish to %s: %v", room, err)
	}
	if r.status != http.StatusCreated {
		t.Fatalf("publish to %s: status %d, body %s", room, r.status, r.body)
	}
	if r.ev.Offset == 0 || r.ev.ID == "" || r.ev.Room != room || r.ev.Type != typ || !bytes.Equal(r.ev.Data, data) {
		t.Fatalf("publish to %s type %s data %s: got %s", room, typ, data, r.body)
	}
	return r.ev
}

// getJSON GETs u and decodes a 200 body into v. It returns the status and
// the raw body.
func getJSON(c *http.Client, u string, v any) (int, []byte, error) {
	resp, err := c.Get(u)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, b, err
	}
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			return resp.StatusCode, b, fmt.Errorf("decode %s: %w (body %q)", u, err, b)
		}
	}
	return resp.StatusCode, b, nil
}

type health struct {
	Status string `json:"status"`
	Head   uint64 `json:"head"`
	Epoch  string `json:"epoch"`
}

func getHealth(t testing.TB, c *http.Client, base string) health {
	t.Helper()
	var h health
	status, body, err := getJSON(c, base+"/healthz", &h)
	if err != nil || status != http.StatusOK || h.Epoch == "" {
		t.Fatalf("GET /healthz: status %d, err %v, body %s", status, err, body)
	}
	return h
}

// readRoom pages through a room's whole history with after=next.
func readRoom(t testing.TB, c *http.Client, base, room string) []wireEvent {
	t.Helper()
	var out []wireEvent
	var after uint64
	for {
		var p page
		u := fmt.Sprintf("%s/api/rooms/%s/events?after=%d&limit=1000", base, room, after)
		status, body, err := getJSON(c, u, &p)
		if err != nil || status != http.StatusOK {
			t.Fatalf("GET %s: status %d, err %v, body %.300s", u, status, err, body)
		}
		if p.Reset != nil {
			t.Fatalf("GET %s: unexpected reset %s", u, *p.Reset)
		}
		if len(p.Events) == 0 {
			if p.Next < after {
				t.Fatalf("GET %s: next %d went backwards", u, p.Next)
			}
			return out
		}
		for _, ev := range p.Events {
			if ev.Offset <= after {
				t.Fatalf("GET %s: offset %d after %d: not ascending", u, ev.Offset, after)
			}
			if ev.Room != room {
				t.Fatalf("GET %s: event %s of another room", u, ev)
			}
			after = ev.Offset
			out = append(out, ev)
		}
		if p.Next < after {
			t.Fatalf("GET %s: next %d below the last event %d", u, p.Next, after)
		}
		after = p.Next
	}
}

// logSnapshot is the whole log, read back over HTTP from a quiet server.
type logSnapshot struct {
	head     uint64
	epoch    string
	rooms    map[string][]wireEvent
	byOffset map[uint64]wireEvent
}

// readLog reads every room and checks the log's shape: the union of the
// rooms is exactly the offsets 1..head, each once, every room ascending,
// and /api/rooms agrees with what was read.
func readLog(t testing.TB, c *http.Client, base string) logSnapshot {
	t.Helper()
	h := getHealth(t, c, base)
	var list struct {
		Rooms []struct {
			Room  string `json:"room"`
			Head  uint64 `json:"head"`
			Count uint64 `json:"count"`
		} `json:"rooms"`
		Head  uint64 `json:"head"`
		Epoch string `json:"epoch"`
	}
	status, body, err := getJSON(c, base+"/api/rooms", &list)
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /api/rooms: status %d, err %v, body %.300s", status, err, body)
	}
	if list.Head != h.Head || list.Epoch != h.Epoch {
		t.Fatalf("/api/rooms says head %d epoch %s, /healthz head %d epoch %s", list.Head, list.Epoch, h.Head, h.Epoch)
	}
	s := logSnapshot{head: h.Head, epoch: h.Epoch, rooms: map[string][]wireEvent{}, byOffset: map[uint64]wireEvent{}}
	for _, ri := range list.Rooms {
		evs := readRoom(t, c, base, ri.Room)
		s.rooms[ri.Room] = evs
		if uint64(len(evs)) != ri.Count {
			t.Errorf("room %s: /api/rooms count %d, history has %d events", ri.Room, ri.Count, len(evs))
		}
		if len(evs) > 0 && evs[len(evs)-1].Offset != ri.Head {
			t.Errorf("room %s: /api/rooms head %d, last event %d", ri.Room, ri.Head, evs[len(evs)-1].Offset)
		}
		for _, ev := range evs {
			if old, dup := s.byOffset[ev.Offset]; dup {
				t.Fatalf("offset %d is in two places: %s and %s", ev.Offset, old, ev)
			}
			if ev.Offset > s.head {
				t.Fatalf("event %s is beyond the head %d", ev, s.head)
			}
			s.byOffset[ev.Offset] = ev
		}
	}
	if uint64(len(s.byOffset)) != s.head {
		var missing []uint64
		for off := uint64(1); off <= s.head && len(missing) < 20; off++ {
			if _, ok := s.byOffset[off]; !ok {
				missing = append(missing, off)
			}
		}
		t.Fatalf("log head %d but the rooms hold %d events; missing offsets (first 20): %v", s.head, len(s.byOffset), missing)
	}
	return s
}

// after returns the events of rooms with offsets above after, in offset order.
func (s logSnapshot) after(rooms []string, after uint64) []wireEvent {
	var out []wireEvent
	for _, r := range rooms {
		for _, ev := range s.rooms[r] {
			if ev.Offset > after {
				out = append(out, ev)
			}
		}
	}
	slices.SortFunc(out, func(a, b wireEvent) int { return int(a.Offset) - int(b.Offset) })
	return out
}

// diffEvents describes how got differs from want ("" when equal).
func diffEvents(got, want []wireEvent) string {
	for i := range min(len(got), len(want)) {
		if !got[i].same(want[i]) {
			return fmt.Sprintf("event %d: got %s, want %s (got %d events, want %d)", i, got[i], want[i], len(got), len(want))
		}
	}
	switch {
	case len(got) > len(want):
		return fmt.Sprintf("%d extra events, first %s", len(got)-len(want), got[len(want)])
	case len(got) < len(want):
		return fmt.Sprintf("%d events missing, first %s", len(want)-len(got), want[len(got)])
	}
	return ""
}

// sseFrame is one block of a text/event-stream (lines up to a blank line).
type sseFrame struct {
	id       string
	hasID    bool
	event    string
	data     []string
	retry    string
	comments []string
}

// sseStream reads an open text/event-stream.
type sseStream struct {
	resp   *http.Response
	br     *bufio.Reader
	cancel context.CancelFunc
}

// openSSE GETs an SSE URL (with Last-Event-ID when lastEventID is not
// empty) and checks that a stream starts.
func openSSE(ctx context.Context, c *http.Client, u, lastEventID string) (*sseStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("GET %s: status %d, Content-Type %q, body %s", u, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return &sseStream{resp: resp, br: bufio.NewReader(resp.Body), cancel: cancel}, nil
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next block; io.EOF when the stream ended cleanly
// between blocks.
func (s *sseStream) next() (sseFrame, error) {
	var f sseFrame
	started := false
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && line == "" && !started {
				return f, io.EOF
			}
			if errors.Is(err, io.EOF) {
				return f, io.ErrUnexpectedEOF
			}
			return f, err
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			if started {
				return f, nil
			}
			continue
		}
		started = true
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
			f.data = append(f.data, value)
		case "retry":
			f.retry = value
		}
	}
}

// nextEvent skips blocks without data (retry hints, comments) and returns
// the next event, checking that its id: and event: lines match its JSON.
func (s *sseStream) nextEvent() (wireEvent, error) {
	for {
		f, err := s.next()
		if err != nil {
			return wireEvent{}, err
		}
		if len(f.data) == 0 {
			continue
		}
		return frameEvent(f)
	}
}

func frameEvent(f sseFrame) (wireEvent, error) {
	if f.event == "reset" {
		return wireEvent{}, fmt.Errorf("unexpected reset: id %s data %s", f.id, strings.Join(f.data, "\n"))
	}
	var ev wireEvent
	if err := json.Unmarshal([]byte(strings.Join(f.data, "\n")), &ev); err != nil {
		return ev, fmt.Errorf("event data %q: %w", f.data, err)
	}
	if !f.hasID || f.id != strconv.FormatUint(ev.Offset, 10) || f.event != ev.Type {
		return ev, fmt.Errorf("frame id %q event %q do not match its data %s", f.id, f.event, ev)
	}
	return ev, nil
}

// expectSSE reads len(want) events and compares them with want.
func expectSSE(t testing.TB, s *sseStream, want []wireEvent) {
	t.Helper()
	var got []wireEvent
	for range want {
		ev, err := s.nextEvent()
		if err != nil {
			t.Fatalf("after %d of %d events: %v (got %v)", len(got), len(want), err, got)
		}
		got = append(got, ev)
	}
	if d := diffEvents(got, want); d != "" {
		t.Fatalf("SSE events differ: %s", d)
	}
}

// poll GETs /poll and decodes the answer.
func poll(c *http.Client, base string, rooms []string, after uint64, extra string) (page, error) {
	q := url.Values{"room": rooms, "after": {strconv.FormatUint(after, 10)}}
	u := base + "/poll?" + q.Encode() + extra
	var p page
	status, body, err := getJSON(c, u, &p)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("GET %s: status %d, body %.300s", u, status, body)
	}
	if err == nil && p.Reset != nil {
		err = fmt.Errorf("GET %s: unexpected reset %s", u, *p.Reset)
	}
	if err == nil {
		prev := after
		for _, ev := range p.Events {
			if ev.Offset <= prev || ev.Offset > p.Next {
				err = fmt.Errorf("GET %s: event %s out of order (previous %d, next %d)", u, ev, prev, p.Next)
				break
			}
			prev = ev.Offset
		}
		if p.Next < after {
			err = fmt.Errorf("GET %s: next %d went backwards", u, p.Next)
		}
	}
	return p, err
}

// metric returns the value of a gauge on /metrics, asked with the test
// API key (a secured server shows its metrics to admin keys only).
func metric(c *http.Client, base, name string) (float64, error) {
	text, err := metricsText(c, base)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("metric %s not in /metrics", name)
}

// metricsText returns base's /metrics, read with the test's API key.
func metricsText(c *http.Client, base string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("X-API-Key", testAPIKey)
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// metricLines returns the samples of base's /metrics whose names start
// with name, one per line, or the error that stopped the read.
func metricLines(c *http.Client, base, name string) string {
	text, err := metricsText(c, base)
	if err != nil {
		return err.Error()
	}
	var out []string
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, name) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "; ")
}

// waitMetric waits until gauge name is at least v (a request is being
// held, a stream is open).
func waitMetric(t testing.TB, c *http.Client, base, name string, v float64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := metric(c, base, name)
		if err != nil {
			t.Fatal(err)
		}
		if got >= v {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed at %g, want >= %g", name, got, v)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// newSeed returns a logged seed for math/rand/v2.
func newSeed(t testing.TB) uint64 {
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	return seed
}
