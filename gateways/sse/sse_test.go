package sse

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/gateways/internal/httpxtest"

	"github.com/rtbroker/rtbroker/broker"
)

func TestStreamFramesEvents(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			e := newEnvOn(t, tr.h2, broker.Config{}, Config{Retry: 1500 * time.Millisecond})
			want := e.publish(t, "a", "chat:message", "typing", "x.y")
			r := e.open(t, q("room", "a", "after", "0"), nil)

			first, err := r.next()
			if err != nil {
				t.Fatal(err)
			}
			if first.retry != "1500" || first.isEvent() {
				t.Fatalf("first block = %+v, want a lone retry: 1500", first)
			}
			got := readEvents(t, r, len(want))
			for i, ev := range want {
				if got[i].Offset != ev.Offset || got[i].Type != ev.Type || got[i].Room != "a" ||
					got[i].ID != ev.ID.String() || string(got[i].Data) != string(ev.Data) {
					t.Errorf("event %d = %+v, want %s", i, got[i], ev.JSON())
				}
			}
		})
	}
}

func TestResume(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		header http.Header
	}{
		{name: "Last-Event-ID header", query: q("room", "a"), header: http.Header{"Last-Event-Id": {"2"}}},
		{name: "lastEventId param", query: q("room", "a", "lastEventId", "2")},
		{name: "after param", query: q("room", "a", "after", "2")},
		{name: "header wins over after", query: q("room", "a", "after", "0"), header: http.Header{"Last-Event-Id": {"2"}}},
		{name: "lastEventId wins over after", query: q("room", "a", "after", "4", "lastEventId", "2")},
		{name: "empty header ignored", query: q("room", "a", "after", "2"), header: http.Header{"Last-Event-Id": {""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, broker.Config{}, Config{})
			e.publish(t, "a", "t1", "t2", "t3", "t4", "t5")
			r := e.open(t, tc.query, tc.header)
			got := readEvents(t, r, 3)
			e.publish(t, "a", "t6")
			got = append(got, readEvents(t, r, 1)...)
			if want := seq(3, 6); !slices.Equal(offsets(got), want) {
				t.Fatalf("offsets = %v, want %v", offsets(got), want)
			}
		})
	}
}

// TestReconnectGetsMissedOnce drops a stream midway, publishes while the
// client is away, and reconnects with the last id it saw, like EventSource.
func TestReconnectGetsMissedOnce(t *testing.T) {
	e := newEnv(t, broker.Config{}, Config{})
	e.publish(t, "a", "t1", "t2", "t3")
	r := e.open(t, q("room", "a", "after", "0"), nil)
	got := readEvents(t, r, 2)
	r.body.Close()
	e.publish(t, "a", "t4", "t5")

	last := strconv.FormatUint(got[len(got)-1].Offset, 10)
	r = e.open(t, q("room", "a"), http.Header{"Last-Event-Id": {last}})
	got = append(got, readEvents(t, r, 3)...)
	e.publish(t, "a", "t6")
	got = append(got, readEvents(t, r, 1)...)
	if want := seq(1, 6); !slices.Equal(offsets(got), want) {
		t.Fatalf("offsets = %v, want %v", offsets(got), want)
	}
}

func TestReplayThenLive(t *testing.T) {
	e := newEnv(t, broker.Config{}, Config{})
	e.publish(t, "a", "old1", "old2")
	r := e.open(t, q("room", "a", "after", "0"), nil)
	got := readEvents(t, r, 2)
	e.publish(t, "a", "new1", "new2")
	got = append(got, readEvents(t, r, 2)...)
	if want := seq(1, 4); !slices.Equal(offsets(got), want) {
		t.Fatalf("offsets = %v, want %v", offsets(got), want)
	}
}

func TestLiveOnlyWithoutPosition(t *testing.T) {
	e := newEnv(t, broker.Config{}, Config{})
	e.publish(t, "a", "old1", "old2")
	r := e.open(t, q("room", "a"), nil)
	e.publish(t, "a", "new")
	got := readEvents(t, r, 1)
	if got[0].Offset != 3 || got[0].Type != "new" {
		t.Fatalf("first event = %+v, want offset 3 type new", got[0])
	}
}

func TestMultiRoomMerge(t *testing.T) {
	e := newEnv(t, broker.Config{}, Config{})
	var want []uint64
	for i := range 30 {
		room := []string{"a", "b", "c"}[i%3]
		ev := e.publish(t, room, fmt.Sprintf("t%d", i))[0]
		if room != "c" {
			want = append(want, ev.Offset)
		}
	}
	r := e.open(t, q("room", "b", "room", "a", "room", "b", "after", "0"), nil)
	got := readEvents(t, r, len(want)-4)
	for _, room := range []string{"c", "a", "c", "b"} {
		ev := e.publish(t, room, "live")[0]
		if room != "c" {
			want = append(want, ev.Offset)
		}
	}
	got = append(got, readEvents(t, r, len(want)-len(got))...)
	if !slices.Equal(offsets(got), want) {
		t.Fatalf("offsets = %v, want %v", offsets(got), want)
	}
	for _, ev := range got {
		if ev.Room == "c" {
			t.Fatalf("got event of room c: %+v", ev)
		}
	}
}

func TestResetEvent(t *testing.T) {
	tests := []struct {
		name          string
		query         string
		trim          int // trim the log to this many events per room before connecting
		wantReason    string
		wantRequested uint64
		wantResume    uint64
		wantFirst     uint64 // first event after the reset
		wantRoom      string // the room the reset names; "" for all of them
	}{
		{name: "other epoch", query: q("room", "a", "after", "3", "epoch", "another-log"),
			wantReason: "epoch_mismatch", wantRequested: 3, wantResume: 0, wantFirst: 1},
		{name: "beyond head", query: q("room", "a", "after", "100"),
			wantReason: "epoch_mismatch", wantRequested: 100, wantResume: 0, wantFirst: 1},
		{name: "trimmed", query: q("room", "a", "after", "3"), trim: 2,
			wantReason: "trimmed", wantRequested: 3, wantResume: 8, wantFirst: 9, wantRoom: "a"},
		{name: "trimmed via Last-Event-ID", query: q("room", "a", "lastEventId", "1"), trim: 5,
			wantReason: "trimmed", wantRequested: 1, wantResume: 5, wantFirst: 6, wantRoom: "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A one-event tail makes old positions read from the log,
			// where trimming shows.
			e := newEnv(t, broker.Config{TailSize: 1}, Config{})
			e.publish(t, "a", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "t10")
			if tc.trim > 0 {
				if _, err := e.log.Trim(context.Background(), broker.Retention{MaxCount: tc.trim}, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			r := e.open(t, tc.query, nil)
			f, err := r.nextEvent()
			if err != nil {
				t.Fatal(err)
			}
			if f.event != "reset" {
				t.Fatalf("first event = %+v, want reset", f)
			}
			var reset struct {
				Reason    string `json:"reason"`
				Room      string `json:"room"`
				Requested uint64 `json:"requested"`
				Resume    uint64 `json:"resume"`
				Epoch     string `json:"epoch"`
			}
			if err := json.Unmarshal([]byte(f.data), &reset); err != nil {
				t.Fatalf("reset data %q: %v", f.data, err)
			}
			if reset.Reason != tc.wantReason || reset.Room != tc.wantRoom || reset.Requested != tc.wantRequested || reset.Resume != tc.wantResume || reset.Epoch != e.b.Epoch() {
				t.Errorf("reset = %+v, want reason %s requested %d resume %d epoch %s", reset, tc.wantReason, tc.wantRequested, tc.wantResume, e.b.Epoch())
			}
			if f.id != strconv.FormatUint(tc.wantResume, 10) {
				t.Errorf("reset id = %q, want %d", f.id, tc.wantResume)
			}
			got := readEvents(t, r, int(10-tc.wantFirst+1))
			if want := seq(tc.wantFirst, 10); !slices.Equal(offsets(got), want) {
				t.Fatalf("offsets after reset = %v, want %v", offsets(got), want)
			}
		})
	}
}

func TestHeartbeat(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			e := newEnvOn(t, tr.h2, broker.Config{}, Config{Heartbeat: 20 * time.Millisecond})
			r := e.open(t, q("room", "a"), nil)
			for i := range 3 {
				f, err := r.next()
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					continue // retry
				}
				if !slices.Equal(f.comments, []string{"ping"}) || f.isEvent() {
					t.Fatalf("block %d = %+v, want a ping comment", i, f)
				}
			}
		})
	}
}

func TestEphemeralWithoutID(t *testing.T) {
	e := newEnv(t, broker.Config{}, Config{})
	r := e.open(t, q("room", "a"), nil)
	if _, err := e.b.PublishEphemeral(broker.Message{Room: "a", Type: "typing", Data: json.RawMessage(`{"who":"ann"}`)}); err != nil {
		t.Fatal(err)
	}
	e.publish(t, "a", "chat")
	got := readEvents(t, r, 2)
	if !got[0].Ephemeral || got[0].Type != "typing" || string(got[0].Data) != `{"who":"ann"}` {
		t.Errorf("first = %+v, want the ephemeral typing event", got[0])
	}
	if got[1].Ephemeral || got[1].Offset != 1 {
		t.Errorf("second = %+v, want committed offset 1", got[1])
	}
}

func TestCloseEndsStreamsWithRetryHint(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			tests := []struct {
				name  string
				close func(e *env)
			}{
				{name: "handler Close", close: func(e *env) { e.h.Close() }},
				{name: "broker Close", close: func(e *env) { e.b.Close() }},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					e := newEnvOn(t, tr.h2, broker.Config{}, Config{ShutdownRetry: 300 * time.Millisecond})
					r := e.open(t, q("room", "a"), nil)
					if _, err := r.next(); err != nil { // retry
						t.Fatal(err)
					}
					tc.close(e)
					f, err := r.next()
					if err != nil {
						t.Fatal(err)
					}
					ms, _ := strconv.Atoi(f.retry)
					if ms < 300 || ms >= 600 || !slices.Equal(f.comments, []string{"shutdown"}) {
						t.Errorf("last block = %+v, want retry in [300,600) and a shutdown comment", f)
					}
					if _, err := r.next(); err != io.EOF {
						t.Errorf("after the hint: %v, want EOF", err)
					}
					waitFor(t, "no active stream", func() bool { return e.h.Active() == 0 })

					resp := e.get(t, q("room", "a"), nil)
					defer resp.Body.Close()
					checkError(t, resp, http.StatusServiceUnavailable, "unavailable")
				})
			}
		})
	}
}

func TestBadRequest(t *testing.T) {
	long := strings.Repeat("r", broker.MaxRoomLen+1)
	var many []string
	for i := range 5 {
		many = append(many, "room", fmt.Sprint("r", i))
	}
	tests := []struct {
		name       string
		method     string
		query      string
		header     http.Header
		wantStatus int
		wantCode   string
		wantInMsg  string
	}{
		{name: "no room", query: q("after", "1"), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "room"},
		{name: "empty room", query: q("room", ""), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "room"},
		{name: "bad room char", query: q("room", "a b"), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "room"},
		{name: "room too long", query: q("room", long), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "room"},
		{name: "too many rooms", query: q(many...), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "more than 4 rooms"},
		{name: "bad after", query: q("room", "a", "after", "x"), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "after"},
		{name: "negative after", query: q("room", "a", "after", "-1"), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "after"},
		{name: "empty after", query: q("room", "a", "after", ""), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "after"},
		{name: "after overflow", query: q("room", "a", "after", "18446744073709551616"), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "out of range"},
		{name: "bad Last-Event-ID", query: q("room", "a"), header: http.Header{"Last-Event-Id": {"abc"}}, wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "Last-Event-ID"},
		{name: "bad lastEventId", query: q("room", "a", "lastEventId", "1.5"), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "lastEventId"},
		{name: "epoch too long", query: q("room", "a", "after", "1", "epoch", strings.Repeat("e", 200)), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "epoch"},
		{name: "POST", method: http.MethodPost, query: q("room", "a"), wantStatus: 405, wantCode: "method_not_allowed"},
	}
	e := newEnv(t, broker.Config{}, Config{MaxRooms: 4})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			req, err := http.NewRequest(method, e.srv.URL+"/sse?"+tc.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header[k] = v
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			msg := checkError(t, resp, tc.wantStatus, tc.wantCode)
			if !strings.Contains(msg, tc.wantInMsg) {
				t.Errorf("message %q does not mention %q", msg, tc.wantInMsg)
			}
		})
	}
}

// checkError checks an error response and returns its message.
func checkError(t *testing.T, resp *http.Response, status int, code string) string {
	t.Helper()
	return httpxtest.CheckError(t, resp, status, code)
}

// TestStalledClientDoesNotBlockPublisher opens a stream on a raw TCP
// connection that never reads, publishes far more than the socket buffers
// hold, and checks that every publish completes and the stalled stream is
// dropped after the write timeout.
func TestStalledClientDoesNotBlockPublisher(t *testing.T) {
	e := newEnv(t, broker.Config{}, Config{WriteTimeout: 200 * time.Millisecond})
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET /sse?room=a HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// Read the response head only, so the subscription surely exists.
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, "200") {
		t.Fatalf("status line %q: %v", status, err)
	}

	data := json.RawMessage(`{"pad":"` + strings.Repeat("x", 1000) + `"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	for i := range 10000 {
		if _, err := e.b.Publish(ctx, broker.Message{Room: "a", Type: "t", Data: data}); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	t.Logf("10000 publishes of 1 KB in %v with a stalled reader", time.Since(start))
	waitFor(t, "the stalled stream to be dropped", func() bool { return e.h.Active() == 0 })
}

func BenchmarkSSEFrame(b *testing.B) {
	e := newEnv(b, broker.Config{}, Config{})
	ev := e.publish(b, "room-1", "chat:message")[0]
	frame := ev.Encode(e.h.enc)
	if !strings.HasPrefix(string(frame), "id: 1\nevent: chat:message\ndata: {") {
		b.Fatalf("frame = %q", frame)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if f := ev.Encode(e.h.enc); len(f) != len(frame) {
			b.Fatal("frame changed")
		}
	}
}

// TestResetMidStream lets a stream fall behind (its client does not read
// while the socket buffers fill), trims the log under it, then reads: the
// stream must say reset and continue from the earliest retained event,
// never skip silently.
func TestResetMidStream(t *testing.T) {
	e := newEnv(t, broker.Config{TailSize: 1}, Config{BatchSize: 1})
	data := json.RawMessage(`{"pad":"` + strings.Repeat("x", 60<<10) + `"}`)
	const n = 400 // 24 MB: more than loopback socket buffers hold
	for range n {
		if _, err := e.b.Publish(context.Background(), broker.Message{Room: "a", Type: "t", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	r := e.open(t, q("room", "a", "after", "0"), nil)
	time.Sleep(300 * time.Millisecond) // let the handler block on a full socket
	if _, err := e.log.Trim(context.Background(), broker.Retention{MaxCount: 2}, time.Now()); err != nil {
		t.Fatal(err)
	}

	var last uint64
	resets := 0
	for last < n {
		f, err := r.nextEvent()
		if err != nil {
			t.Fatalf("after offset %d: %v", last, err)
		}
		if f.event == "reset" {
			resets++
			var reset struct {
				Reason string `json:"reason"`
				Resume uint64 `json:"resume"`
			}
			if err := json.Unmarshal([]byte(f.data), &reset); err != nil || reset.Reason != "trimmed" || reset.Resume != n-2 || f.id != strconv.Itoa(n-2) {
				t.Fatalf("reset frame %+v (%v), want trimmed, resume and id %d", f, err, n-2)
			}
			last = reset.Resume
			continue
		}
		off, _ := strconv.ParseUint(f.id, 10, 64)
		if off != last+1 {
			t.Fatalf("offset %d after %d without a reset", off, last)
		}
		last = off
	}
	if resets != 1 {
		t.Fatalf("%d resets, want 1", resets)
	}
}

// TestGoneClientEndsStream: a client that closes its connection without a
// word is noticed (a hijacked stream has no goroutine reading it): at once
// by the poller, else at the next heartbeat; the stream ends, and a client
// that stays keeps its stream.
func TestGoneClientEndsStream(t *testing.T) {
	for _, tc := range []struct {
		name      string
		heartbeat time.Duration
		noPoller  bool
	}{
		{name: "poller", heartbeat: time.Hour},
		{name: "heartbeat", heartbeat: 30 * time.Millisecond, noPoller: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, broker.Config{}, Config{Heartbeat: tc.heartbeat})
			if tc.noPoller && e.h.poll != nil {
				e.h.poll.Close()
				e.h.poll = nil
			}
			dial := func() (net.Conn, *bufio.Reader) {
				conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { conn.Close() })
				if _, err := fmt.Fprintf(conn, "GET /sse?room=a HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(conn)
				conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				if status, err := br.ReadString('\n'); err != nil || !strings.Contains(status, "200") {
					t.Fatalf("status line %q: %v", status, err)
				}
				return conn, br
			}
			gone, _ := dial()
			_, stays := dial()
			waitFor(t, "two streams", func() bool { return e.h.Active() == 2 })
			gone.Close()
			waitFor(t, "the gone client's stream to end", func() bool { return e.h.Active() == 1 })
			e.publish(t, "a", "still-here")
			for {
				line, err := stays.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if line == "event: still-here\n" {
					break
				}
			}
		})
	}
}
