package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// System tests: the real server (in-process with startServer, or the built
// binary with startProcess) on a real bbolt file, driven over real HTTP on
// 127.0.0.1. Every check reads the log back over the public API.

// subscriber is one reader of TestNoGapAcrossTransports.
type subscriber struct {
	name  string
	sse   bool // SSE, else long-poll
	slow  bool // reads slowly, so it falls out of the in-memory tail
	rooms []string
	after uint64
	rng   *rand.Rand

	got []wireEvent
	err error
}

// run reads until it has the "end" event of each of its rooms.
func (s *subscriber) run(ctx context.Context, base string) {
	if s.sse {
		s.err = s.runSSE(ctx, base)
	} else {
		s.err = s.runPoll(ctx, base)
	}
	if s.err != nil {
		s.err = fmt.Errorf("%s after %d events: %w", s.name, len(s.got), s.err)
	}
}

func (s *subscriber) runSSE(ctx context.Context, base string) error {
	q := url.Values{"room": s.rooms, "after": {strconv.FormatUint(s.after, 10)}}
	st, err := openSSE(ctx, newStreamClient(), base+"/sse?"+q.Encode(), "")
	if err != nil {
		return err
	}
	defer st.close()
	for ends := 0; ends < len(s.rooms); {
		ev, err := st.nextEvent()
		if err != nil {
			return err
		}
		s.got = append(s.got, ev)
		if ev.Type == "end" {
			ends++
		}
		if s.slow {
			if len(s.got) == 1 {
				time.Sleep(150 * time.Millisecond) // let the stream fall far behind
			} else if len(s.got)%8 == 0 {
				time.Sleep(time.Duration(1+s.rng.IntN(5)) * time.Millisecond)
			}
		}
	}
	return nil
}

func (s *subscriber) runPoll(ctx context.Context, base string) error {
	c := newClient()
	defer c.CloseIdleConnections()
	after := s.after
	for ends := 0; ends < len(s.rooms); {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		extra := "&timeout=10s"
		if s.slow {
			extra += "&limit=" + strconv.Itoa(1+s.rng.IntN(16))
		}
		p, err := poll(c, base, s.rooms, after, extra)
		if err != nil {
			return err
		}
		for _, ev := range p.Events {
			s.got = append(s.got, ev)
			if ev.Type == "end" {
				ends++
			}
		}
		after = p.Next
		if s.slow {
			time.Sleep(time.Duration(2+s.rng.IntN(8)) * time.Millisecond)
		}
	}
	return nil
}

// TestNoGapAcrossTransports: while 8 publishers write a few thousand events
// to several rooms, SSE and long-poll subscribers (fast and slow, one to
// three rooms) join from random positions. With a 64-event tail most of
// them replay from disk and the slow ones fall back to it while live. Each
// must receive exactly the events of its rooms after its position, in
// order, once, as the log read back over HTTP has them.
func TestNoGapAcrossTransports(t *testing.T) {
	srv := startServer(t, "", "--tail-size", "64")
	seed := newSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	rooms := []string{"ng-a", "ng-b", "ng-c", "ng-d"}
	const publishers, perPublisher, nsubs = 8, 320, 24
	total := publishers * perPublisher
	pad := strings.Repeat("x", 400) // frames of ~600 bytes fill socket buffers sooner

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var published atomic.Int64
	var pubWG sync.WaitGroup
	for p := range publishers {
		prng := rand.New(rand.NewPCG(seed, uint64(p+1)))
		pubWG.Go(func() {
			c := newClient()
			defer c.CloseIdleConnections()
			for i := range perPublisher {
				room := rooms[prng.IntN(len(rooms))]
				r, err := publish(c, srv.URL, room, "msg", fmt.Appendf(nil, `{"p":%d,"i":%d,"pad":%q}`, p, i, pad))
				if err != nil || r.status != http.StatusCreated {
					t.Errorf("publisher %d: status %d, err %v, body %s", p, r.status, err, r.body)
					return
				}
				published.Add(1)
			}
		})
	}
	pubDone := make(chan struct{})
	go func() { pubWG.Wait(); close(pubDone) }()

	c := newClient()
	defer c.CloseIdleConnections()
	subs := make([]*subscriber, nsubs)
	var subWG sync.WaitGroup
	for i := range subs {
		// Join after about i/nsubs of the events, from a random position.
	wait:
		for published.Load() < int64(total*i/nsubs) {
			select {
			case <-pubDone:
				break wait
			case <-ctx.Done():
				t.Fatal("publishers did not progress")
			case <-time.After(time.Millisecond):
			}
		}
		head := getHealth(t, c, srv.URL).Head
		perm := rng.Perm(len(rooms))
		s := &subscriber{
			sse:   i%2 == 0,
			slow:  i%4 >= 2,
			rooms: slices.Sorted(slices.Values(indexRooms(rooms, perm[:1+i%3]))),
			after: rng.Uint64N(head + 1),
			rng:   rand.New(rand.NewPCG(seed, uint64(1000+i))),
		}
		s.name = fmt.Sprintf("subscriber %d (sse=%v slow=%v rooms=%v after=%d)", i, s.sse, s.slow, s.rooms, s.after)
		subs[i] = s
		subWG.Go(func() { s.run(ctx, srv.URL) })
	}
	<-pubDone
	if t.Failed() {
		cancel()
		subWG.Wait()
		t.FailNow()
	}
	for _, r := range rooms {
		mustPublish(t, c, srv.URL, r, "end", []byte(`{"end":true}`))
	}
	subWG.Wait()

	snap := readLog(t, c, srv.URL)
	if want := uint64(total + len(rooms)); snap.head != want {
		t.Errorf("log head %d, want %d (%d published + %d end events)", snap.head, want, total, len(rooms))
	}
	for _, s := range subs {
		if s.err != nil {
			t.Errorf("%v", s.err)
			continue
		}
		if d := diffEvents(s.got, snap.after(s.rooms, s.after)); d != "" {
			t.Errorf("%s: %s", s.name, d)
		}
	}
}

func indexRooms(rooms []string, idx []int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = rooms[j]
	}
	return out
}

// restarter stops and restarts a server on the same data directory, either
// gracefully (in-process) or with SIGKILL (child process).
type restarter struct {
	name  string
	start func(t *testing.T, dir string) (base string, stop func())
}

var restarters = []restarter{
	{"graceful", func(t *testing.T, dir string) (string, func()) {
		s := startServer(t, dir)
		return s.URL, func() { s.Stop(t) }
	}},
	{"sigkill", func(t *testing.T, dir string) (string, func()) {
		cmd, base := startProcess(t, dir)
		return base, func() {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
		}
	}},
}

// TestSSEResumeAfterRestart: a client reads part of a room, the server
// stops (gracefully: the stream ends with a retry hint; or SIGKILL), more
// events are published after the restart, and the client reconnects with
// Last-Event-ID. It must get exactly the events after that id, including
// the ones published before the stop that it had not read, once, in
// order, and then live ones.
func TestSSEResumeAfterRestart(t *testing.T) {
	for _, rs := range restarters {
		t.Run(rs.name, func(t *testing.T) {
			dir := t.TempDir()
			const room = "resume-sse"
			base, stop := rs.start(t, dir)
			c := newClient()
			defer c.CloseIdleConnections()
			var before []wireEvent
			for i := range 20 {
				before = append(before, mustPublish(t, c, base, room, "msg", fmt.Appendf(nil, `{"n":%d}`, i)))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			st, err := openSSE(ctx, newStreamClient(), base+"/sse?room="+room+"&after=0", "")
			if err != nil {
				t.Fatal(err)
			}
			defer st.close()
			f, err := st.next()
			if err != nil || f.retry == "" {
				t.Fatalf("first block: %+v, %v; want a retry hint", f, err)
			}
			expectSSE(t, st, before[:7])
			noted := before[6].Offset // what the client has processed

			stop()
			// The rest of the stream: the events already sent, in order,
			// then (graceful stop only) a retry hint, then the end.
			var rest []wireEvent
			var last sseFrame
			for {
				f, err := st.next()
				if err != nil {
					if rs.name == "graceful" && !errors.Is(err, io.EOF) {
						t.Errorf("graceful stop: stream ended with %v, want a clean end", err)
					}
					break
				}
				last = f
				if len(f.data) > 0 {
					ev, err := frameEvent(f)
					if err != nil {
						t.Fatal(err)
					}
					rest = append(rest, ev)
				}
			}
			if d := diffEvents(rest, before[7:7+len(rest)]); d != "" {
				t.Fatalf("events after stop: %s", d)
			}
			if rs.name == "graceful" && (last.retry == "" || len(last.data) > 0) {
				t.Errorf("graceful stop: last block %+v, want a retry hint", last)
			}
			received := noted
			if len(rest) > 0 {
				received = rest[len(rest)-1].Offset
			}

			base, _ = rs.start(t, dir)
			var after []wireEvent
			for i := range 5 {
				after = append(after, mustPublish(t, c, base, room, "msg", fmt.Appendf(nil, `{"after":%d}`, i)))
			}
			if after[0].Offset != before[19].Offset+1 {
				t.Fatalf("first offset after restart %d, want %d", after[0].Offset, before[19].Offset+1)
			}
			missed := append(slices.Clone(before[7:]), after...)

			// The client that processed up to noted, and one that kept
			// everything it received before the stream ended.
			a, err := openSSE(ctx, newStreamClient(), base+"/sse?room="+room, strconv.FormatUint(noted, 10))
			if err != nil {
				t.Fatal(err)
			}
			defer a.close()
			b, err := openSSE(ctx, newStreamClient(), base+"/sse?room="+room, strconv.FormatUint(received, 10))
			if err != nil {
				t.Fatal(err)
			}
			defer b.close()
			expectSSE(t, a, missed)
			expectSSE(t, b, missed[received-noted:])

			waitMetric(t, c, base, "rtbroker_sse_streams", 2)
			var live []wireEvent
			for i := range 3 {
				live = append(live, mustPublish(t, c, base, room, "live", fmt.Appendf(nil, `{"live":%d}`, i)))
			}
			// A marker last: nothing (no duplicate) may come before it.
			live = append(live, mustPublish(t, c, base, room, "marker", []byte(`{}`)))
			expectSSE(t, a, live)
			expectSSE(t, b, live)
		})
	}
}

// TestLongPollResumeAfterRestart: like TestSSEResumeAfterRestart, with a
// long-poll client that keeps next and polls after=next.
func TestLongPollResumeAfterRestart(t *testing.T) {
	for _, rs := range restarters {
		t.Run(rs.name, func(t *testing.T) {
			dir := t.TempDir()
			rooms := []string{"resume-poll"}
			base, stop := rs.start(t, dir)
			c := newClient()
			defer c.CloseIdleConnections()
			var before []wireEvent
			for i := range 20 {
				before = append(before, mustPublish(t, c, base, rooms[0], "msg", fmt.Appendf(nil, `{"n":%d}`, i)))
			}
			p, err := poll(c, base, rooms, 0, "&limit=7&timeout=5s")
			if err != nil {
				t.Fatal(err)
			}
			if d := diffEvents(p.Events, before[:7]); d != "" {
				t.Fatalf("first poll: %s", d)
			}
			if p.Next != before[6].Offset {
				t.Fatalf("first poll: next %d, want %d", p.Next, before[6].Offset)
			}
			next := p.Next

			if rs.name == "graceful" {
				// A poll held at the head is released by the shutdown with
				// no events and an unchanged next.
				held := make(chan error, 1)
				var hp page
				go func() {
					var err error
					hp, err = poll(newClient(), base, rooms, before[19].Offset, "&timeout=50s")
					held <- err
				}()
				waitMetric(t, c, base, "rtbroker_longpoll_requests", 1)
				stop()
				if err := <-held; err != nil {
					t.Fatalf("held poll at shutdown: %v", err)
				}
				if len(hp.Events) != 0 || hp.Next != before[19].Offset {
					t.Fatalf("held poll at shutdown: %d events, next %d; want none, next %d", len(hp.Events), hp.Next, before[19].Offset)
				}
			} else {
				stop()
			}

			base, _ = rs.start(t, dir)
			var after []wireEvent
			for i := range 5 {
				after = append(after, mustPublish(t, c, base, rooms[0], "msg", fmt.Appendf(nil, `{"after":%d}`, i)))
			}
			want := append(slices.Clone(before[7:]), after...)
			var got []wireEvent
			for len(got) < len(want) {
				p, err := poll(c, base, rooms, next, "&limit=4&timeout=5s")
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Events) == 0 {
					t.Fatalf("poll after %d: no events, %d still missing", next, len(want)-len(got))
				}
				got = append(got, p.Events...)
				next = p.Next
			}
			if d := diffEvents(got, want); d != "" {
				t.Fatalf("events after restart: %s", d)
			}
			if next != after[4].Offset {
				t.Fatalf("next %d after catching up, want %d", next, after[4].Offset)
			}

			// Live: a poll held at next gets the next commit.
			type result struct {
				p   page
				err error
			}
			res := make(chan result, 1)
			go func() {
				p, err := poll(newClient(), base, rooms, next, "&timeout=50s")
				res <- result{p, err}
			}()
			waitMetric(t, c, base, "rtbroker_longpoll_requests", 1)
			live := mustPublish(t, c, base, rooms[0], "live", []byte(`{"live":true}`))
			r := <-res
			if r.err != nil {
				t.Fatal(r.err)
			}
			if d := diffEvents(r.p.Events, []wireEvent{live}); d != "" || r.p.Next != live.Offset {
				t.Fatalf("live poll: %s, next %d (want %d)", d, r.p.Next, live.Offset)
			}
		})
	}
}

// TestBadInput: every kind of malformed request is answered with the
// right status and JSON error, logs nothing, and leaves the server
// serving. Requests over the size and room limits are in the hostile
// tables (hostile_http_test.go).
func TestBadInput(t *testing.T) {
	srv := startServer(t, "")
	c := newClient()
	defer c.CloseIdleConnections()
	const events = "/api/rooms/bad-input/events"
	ok := `{"type":"t","data":{"a":1}}`
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		header      [2]string // one extra header, name and value
		body        string
		status      int
		code        string
	}{
		{name: "malformed JSON", method: "POST", path: events, body: `{"type":"t",`, status: 400, code: "invalid_argument"},
		{name: "malformed data", method: "POST", path: events, body: `{"type":"t","data":{a:1}}`, status: 400, code: "invalid_argument"},
		{name: "empty body", method: "POST", path: events, body: ``, status: 400, code: "invalid_argument"},
		{name: "blank body", method: "POST", path: events, body: " \n ", status: 400, code: "invalid_argument"},
		{name: "unknown field", method: "POST", path: events, body: `{"type":"t","data":1,"colour":"red"}`, status: 400, code: "invalid_argument"},
		{name: "trailing data", method: "POST", path: events, body: `{"type":"t","data":1} {"type":"t"}`, status: 400, code: "invalid_argument"},
		{name: "type not a string", method: "POST", path: events, body: `{"type":5,"data":1}`, status: 400, code: "invalid_argument"},
		{name: "body is not an object", method: "POST", path: events, body: `"hello"`, status: 400, code: "invalid_argument"},
		{name: "room with a space", method: "POST", path: "/api/rooms/a%20b/events", body: ok, status: 400, code: "invalid_argument"},
		{name: "room too long", method: "POST", path: "/api/rooms/" + strings.Repeat("r", 129) + "/events", body: ok, status: 400, code: "invalid_argument"},
		{name: "room with an encoded slash", method: "POST", path: "/api/rooms/a%2Fb/events", body: ok, status: 400, code: "invalid_argument"},
		{name: "history of a room with an encoded slash", method: "GET", path: "/api/rooms/a%2Fb/events", status: 400, code: "invalid_argument"},
		{name: "missing type", method: "POST", path: events, body: `{"data":1}`, status: 400, code: "invalid_argument"},
		{name: "type with a space", method: "POST", path: events, body: `{"type":"chat message","data":1}`, status: 400, code: "invalid_argument"},
		{name: "type too long", method: "POST", path: events, body: `{"type":"` + strings.Repeat("t", 65) + `","data":1}`, status: 400, code: "invalid_argument"},
		{name: "empty batch", method: "POST", path: events, body: `[]`, status: 400, code: "invalid_argument"},
		{name: "batch with one bad event", method: "POST", path: events, body: `[{"type":"ok","data":1},{"type":"bad type","data":1}]`, status: 400, code: "invalid_argument"},
		{name: "unsupported Content-Type", method: "POST", path: events, contentType: "text/html", body: ok, status: 415, code: "unsupported_media_type"},
		{name: "Idempotency-Key too long", method: "POST", path: events, header: [2]string{"Idempotency-Key", strings.Repeat("k", 300)}, body: ok, status: 400, code: "invalid_argument"},
		{name: "after -1", method: "GET", path: events + "?after=-1", status: 400, code: "invalid_argument"},
		{name: "after abc", method: "GET", path: events + "?after=abc", status: 400, code: "invalid_argument"},
		{name: "after overflows uint64", method: "GET", path: events + "?after=99999999999999999999999", status: 400, code: "invalid_argument"},
		{name: "after 2^64", method: "GET", path: events + "?after=18446744073709551616", status: 400, code: "invalid_argument"},
		{name: "before abc", method: "GET", path: events + "?before=abc", status: 400, code: "invalid_argument"},
		{name: "after and before", method: "GET", path: events + "?after=1&before=5", status: 400, code: "invalid_argument"},
		{name: "limit 0", method: "GET", path: events + "?limit=0", status: 400, code: "invalid_argument"},
		{name: "limit 100000", method: "GET", path: events + "?limit=100000", status: 400, code: "invalid_argument"},
		{name: "limit abc", method: "GET", path: events + "?limit=abc", status: 400, code: "invalid_argument"},
		{name: "limit -5", method: "GET", path: events + "?limit=-5", status: 400, code: "invalid_argument"},
		{name: "unknown route", method: "GET", path: "/api/nope", status: 404, code: "not_found"},
		{name: "unknown route under a room", method: "GET", path: "/api/rooms/x/nope", status: 404, code: "not_found"},
		{name: "wrong method on events", method: "DELETE", path: events, status: 405, code: "method_not_allowed"},
		{name: "wrong method on rooms", method: "POST", path: "/api/rooms", body: ok, status: 405, code: "method_not_allowed"},
		{name: "wrong method on sse", method: "POST", path: "/sse?room=x", body: ok, status: 405, code: "method_not_allowed"},
		{name: "wrong method on poll", method: "POST", path: "/poll?room=x", body: ok, status: 405, code: "method_not_allowed"},
		{name: "sse without room", method: "GET", path: "/sse", status: 400, code: "invalid_argument"},
		{name: "sse with an empty room", method: "GET", path: "/sse?room=", status: 400, code: "invalid_argument"},
		{name: "sse with a bad room", method: "GET", path: "/sse?room=a%20b", status: 400, code: "invalid_argument"},
		{name: "sse bad Last-Event-ID", method: "GET", path: "/sse?room=x", header: [2]string{"Last-Event-ID", "abc"}, status: 400, code: "invalid_argument"},
		{name: "sse negative Last-Event-ID", method: "GET", path: "/sse?room=x", header: [2]string{"Last-Event-ID", "-1"}, status: 400, code: "invalid_argument"},
		{name: "sse bad after", method: "GET", path: "/sse?room=x&after=abc", status: 400, code: "invalid_argument"},
		{name: "poll without room", method: "GET", path: "/poll?after=0", status: 400, code: "invalid_argument"},
		{name: "poll bad timeout", method: "GET", path: "/poll?room=x&after=0&timeout=abc", status: 400, code: "invalid_argument"},
		{name: "poll negative timeout", method: "GET", path: "/poll?room=x&after=0&timeout=-1s", status: 400, code: "invalid_argument"},
		{name: "poll bad after", method: "GET", path: "/poll?room=x&after=-1", status: 400, code: "invalid_argument"},
		{name: "poll limit 0", method: "GET", path: "/poll?room=x&after=0&limit=0", status: 400, code: "invalid_argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, err := http.NewRequestWithContext(ctx, tc.method, srv.URL+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			if tc.header[0] != "" {
				req.Header.Set(tc.header[0], tc.header[1])
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				// Do not read on: a wrongly started stream would not end.
				t.Fatalf("status %d, want %d (Content-Type %q)", resp.StatusCode, tc.status, resp.Header.Get("Content-Type"))
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			var e struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil {
				t.Fatalf("body %q is not {\"error\":{\"code\",\"message\"}}: %v", b, err)
			}
			if e.Error.Code != tc.code || strings.TrimSpace(e.Error.Message) == "" {
				t.Errorf("error %+v, want code %q and a message", e.Error, tc.code)
			}
		})
	}

	t.Run("history of an unknown room", func(t *testing.T) {
		var p page
		status, body, err := getJSON(c, srv.URL+"/api/rooms/never-used/events?after=0", &p)
		if err != nil || status != http.StatusOK {
			t.Fatalf("status %d, err %v, body %s", status, err, body)
		}
		if p.Events == nil || len(p.Events) != 0 || p.Reset != nil {
			t.Fatalf("body %s, want an empty events array and no reset", body)
		}
	})

	// Nothing was logged, and no room was created.
	snap := readLog(t, c, srv.URL)
	if snap.head != 0 || len(snap.rooms) != 0 {
		t.Fatalf("after bad requests: head %d, rooms %v; want an empty log", snap.head, snap.rooms)
	}
	ev := mustPublish(t, c, srv.URL, "bad-input", "t", []byte(`{"a":1}`))
	if ev.Offset != 1 {
		t.Fatalf("good publish got offset %d, want 1", ev.Offset)
	}
}

// TestIdempotencyKey: a publish retried with the same Idempotency-Key
// returns the first result (also concurrently, and after a restart)
// without logging again; a key reused for another event is refused.
func TestIdempotencyKey(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir)
	c := newClient()
	defer c.CloseIdleConnections()
	const room = "idem-a"
	data := []byte(`{"order":42}`)

	keyed := func(base, room, typ, key string) pubResult {
		t.Helper()
		r, err := publish(c, base, room, typ, data, "Idempotency-Key", key)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	replay := func(base, key string, want wireEvent) {
		t.Helper()
		r := keyed(base, room, "order", key)
		if r.status != http.StatusCreated && r.status != http.StatusOK {
			t.Fatalf("replay of %s: status %d, body %s", key, r.status, r.body)
		}
		var ev wireEvent
		if err := json.Unmarshal(r.body, &ev); err != nil {
			t.Fatalf("replay of %s: body %s: %v", key, r.body, err)
		}
		if !ev.same(want) || ev.Time != want.Time {
			t.Fatalf("replay of %s: got %s, want %s", key, r.body, want)
		}
		if got := r.header.Get("Idempotent-Replayed"); got != "true" {
			t.Errorf("replay of %s: Idempotent-Replayed %q, want true", key, got)
		}
	}

	r := keyed(srv.URL, room, "order", "key-1")
	if r.status != http.StatusCreated {
		t.Fatalf("first publish: status %d, body %s", r.status, r.body)
	}
	first := r.ev
	if r.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("first publish marked as replayed")
	}
	replay(srv.URL, "key-1", first)
	other := mustPublish(t, c, srv.URL, room, "order", []byte(`{"order":43}`))
	if other.Offset != first.Offset+1 {
		t.Fatalf("next event got offset %d, want %d: the replay was logged", other.Offset, first.Offset+1)
	}
	replay(srv.URL, "key-1", first)

	// Concurrent publishes with one new key commit one event.
	results := make([]pubResult, 16)
	errs := make([]error, len(results))
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			cl := newClient()
			defer cl.CloseIdleConnections()
			results[i], errs[i] = publish(cl, srv.URL, room, "order", data, "Idempotency-Key", "key-2")
		})
	}
	wg.Wait()
	var second wireEvent
	for i, r := range results {
		var ev wireEvent
		if errs[i] != nil {
			t.Fatalf("concurrent publish %d: %v", i, errs[i])
		}
		if (r.status != http.StatusCreated && r.status != http.StatusOK) || json.Unmarshal(r.body, &ev) != nil {
			t.Fatalf("concurrent publish %d: status %d, body %s", i, r.status, r.body)
		}
		if i == 0 {
			second = ev
		} else if !ev.same(second) {
			t.Fatalf("concurrent publishes with one key got %s and %s", second, ev)
		}
	}
	if h := getHealth(t, c, srv.URL).Head; h != other.Offset+1 || second.Offset != h {
		t.Fatalf("after 16 publishes with one key: head %d, event %s; want one event at %d", h, second, other.Offset+1)
	}

	srv.Stop(t)
	srv = startServer(t, dir)
	replay(srv.URL, "key-1", first)
	replay(srv.URL, "key-2", second)

	// Keys are scoped to their room: the same key in another room names
	// another event.
	r, err := publish(c, srv.URL, "idem-b", "order", data, "Idempotency-Key", "key-1")
	if err != nil || r.status != http.StatusCreated {
		t.Fatalf("key-1 in another room: %d %s, %v; want 201", r.status, r.body, err)
	}
	var inB wireEvent
	if err := json.Unmarshal(r.body, &inB); err != nil || inB.Offset != second.Offset+1 || inB.Room != "idem-b" {
		t.Fatalf("key-1 in another room: %s; want a new event at %d", r.body, second.Offset+1)
	}
	// Within a room the key names one event: reusing it for another type or
	// data is a conflict, not a replay, and not a new event.
	for _, tc := range []struct {
		name, room, typ, data string
	}{
		{"key reused for another type", room, "refund", string(data)},
		{"key reused for other data", room, "order", `{"order":99}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := publish(c, srv.URL, tc.room, tc.typ, []byte(tc.data), "Idempotency-Key", "key-1")
			if err != nil {
				t.Fatal(err)
			}
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			json.Unmarshal(r.body, &e)
			if r.status != http.StatusUnprocessableEntity || e.Error.Code == "" || e.Error.Message == "" {
				t.Errorf("status %d, body %s; want 422 with a JSON error", r.status, r.body)
			}
		})
	}
	snap := readLog(t, c, srv.URL)
	if snap.head != inB.Offset || len(snap.rooms) != 2 {
		t.Errorf("log after the test: head %d, rooms %d; want head %d and two rooms", snap.head, len(snap.rooms), inB.Offset)
	}
	for _, ev := range []wireEvent{first, other, second, inB} {
		if !snap.byOffset[ev.Offset].same(ev) {
			t.Errorf("log has %s at %d, want %s", snap.byOffset[ev.Offset], ev.Offset, ev)
		}
	}
}

// cleanPublishError reports whether err is how a publish may fail while
// the server stops: refused, reset or closed connection.
func cleanPublishError(err error) bool {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	return strings.Contains(err.Error(), "server closed idle connection")
}

// TestGracefulShutdownFinishesPublishes: a graceful stop while many
// publishes are in flight answers each of them with 201 (and the event is
// in the log after a restart) or with a clean error: 503 or a refused or
// closed connection. No acknowledged event is missing.
func TestGracefulShutdownFinishesPublishes(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir)
	rooms := []string{"gs-a", "gs-b", "gs-c", "gs-d"}
	const publishers = 32

	var mu sync.Mutex
	var acked []wireEvent
	var count atomic.Int64
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			c := newClient()
			defer c.CloseIdleConnections()
			for i := 0; ; i++ {
				data := fmt.Appendf(nil, `{"p":%d,"i":%d}`, p, i)
				r, err := publish(c, srv.URL, rooms[(p+i)%len(rooms)], "msg", data)
				switch {
				case err != nil && cleanPublishError(err):
					return
				case err != nil:
					t.Errorf("publisher %d: unclean error %v", p, err)
					return
				case r.status == http.StatusServiceUnavailable:
					return
				case r.status != http.StatusCreated:
					t.Errorf("publisher %d: status %d, body %s", p, r.status, r.body)
					return
				}
				if !bytes.Equal(r.ev.Data, data) {
					t.Errorf("publisher %d: sent %s, acknowledged %s", p, data, r.body)
				}
				mu.Lock()
				acked = append(acked, r.ev)
				mu.Unlock()
				count.Add(1)
			}
		})
	}
	deadline := time.Now().Add(20 * time.Second)
	for count.Load() < 300 && !t.Failed() {
		if time.Now().After(deadline) {
			t.Fatalf("only %d publishes in 20s", count.Load())
		}
		time.Sleep(time.Millisecond)
	}
	srv.Stop(t)
	wg.Wait()
	t.Logf("%d publishes acknowledged", len(acked))

	srv = startServer(t, dir)
	c := newClient()
	defer c.CloseIdleConnections()
	snap := readLog(t, c, srv.URL)
	missing := 0
	for _, a := range acked {
		if got, ok := snap.byOffset[a.Offset]; !ok || !got.same(a) {
			if missing++; missing <= 10 {
				t.Errorf("acknowledged %s, log has %s", a, got)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged events missing or different", missing, len(acked))
	}
	if snap.head < uint64(len(acked)) {
		t.Errorf("head %d below the %d acknowledged events", snap.head, len(acked))
	}
	ev := mustPublish(t, c, srv.URL, rooms[0], "msg", []byte(`{"after":"restart"}`))
	if ev.Offset != snap.head+1 {
		t.Errorf("first publish after restart got offset %d, want %d", ev.Offset, snap.head+1)
	}
}
