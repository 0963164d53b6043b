package longpoll

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/gateways/internal/httpxtest"

	"github.com/rtbroker/rtbroker/broker"
)

func TestImmediateWhenEventsExist(t *testing.T) {
	e := newEnv(t, broker.Config{}, Config{})
	want := e.publish(t, "a", "t1", "t2", "t3")
	start := time.Now()
	got := e.poll(t, q("room", "a", "after", "0"))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("poll took %v, want an immediate answer", d)
	}
	if !slices.Equal(got.offsets(), seq(1, 3)) || *got.Next != 3 {
		t.Fatalf("got offsets %v next %d, want 1..3 next 3", got.offsets(), *got.Next)
	}
	for i, ev := range want {
		g := got.Events[i]
		if g.ID != ev.ID.String() || g.Type != ev.Type || g.Room != "a" || string(g.Data) != string(ev.Data) {
			t.Errorf("event %d = %+v, want %s", i, g, ev.JSON())
		}
	}
}

func TestHoldThenReturnOnPublish(t *testing.T) {
	e := newEnv(t, broker.Config{}, Config{})
	e.publish(t, "a", "t1", "t2")
	p := holdPoll(t, e, q("room", "a", "after", "2"))
	e.publish(t, "b", "other")
	e.publish(t, "a", "t3")
	got := p.wait(t)
	if !slices.Equal(got.offsets(), []uint64{4}) || *got.Next != 4 {
		t.Fatalf("got offsets %v next %d, want [4] next 4", got.offsets(), *got.Next)
	}
}

func TestLiveWaitsForNewEvents(t *testing.T) {
	e := newEnv(t, broker.Config{}, Config{})
	e.publish(t, "a", "old1", "old2")
	p := holdPoll(t, e, q("room", "a"))
	p.until(func() { e.publish(t, "a", "new") })
	got := p.wait(t)
	if len(got.Events) == 0 || got.Events[0].Offset < 3 || *got.Next != got.Events[len(got.Events)-1].Offset {
		t.Fatalf("got offsets %v next %d, want only new events and next at the last", got.offsets(), *got.Next)
	}
}

func TestTimeout(t *testing.T) {
	tests := []struct {
		name    string
		timeout string
		min     time.Duration
	}{
		{name: "duration", timeout: "150ms", min: 150 * time.Millisecond},
		{name: "seconds", timeout: "0.15", min: 150 * time.Millisecond},
		{name: "zero never waits", timeout: "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, broker.Config{}, Config{})
			e.publish(t, "a", "t1", "t2")
			e.publish(t, "b", "t3")
			start := time.Now()
			got := e.poll(t, q("room", "a", "after", "2", "timeout", tc.timeout))
			if d := time.Since(start); d < tc.min || d > tc.min+5*time.Second {
				t.Errorf("poll took %v, want about %v", d, tc.min)
			}
			if len(got.Events) != 0 || *got.Next < 2 || *got.Next > 3 {
				t.Errorf("got %d events next %d, want none and next in [2,3]", len(got.Events), *got.Next)
			}
		})
	}
}

func TestTimeoutCappedByMax(t *testing.T) {
	e := newEnv(t, broker.Config{}, Config{MaxTimeout: 100 * time.Millisecond})
	start := time.Now()
	got := e.poll(t, q("room", "a", "timeout", "1h"))
	if d := time.Since(start); d > 5*time.Second || len(got.Events) != 0 {
		t.Errorf("poll took %v with %d events, want about 100ms and none", d, len(got.Events))
	}
}

func TestClientDisconnectReleases(t *testing.T) {
	e := newEnv(t, broker.Config{}, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/poll?"+q("room", "a", "timeout", "60s"), nil)
		resp, err := e.srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
			t.Errorf("poll answered %d, want the client to give up first", resp.StatusCode)
		}
	})
	defer wg.Wait()
	waitFor(t, "the poll to be held", func() bool { return e.h.Active() == 1 })
	cancel()
	start := time.Now()
	waitFor(t, "the poll to be released", func() bool { return e.h.Active() == 0 })
	if d := time.Since(start); d > time.Second {
		t.Errorf("release took %v", d)
	}
}

func TestPagingDeliversEveryEventOnce(t *testing.T) {
	e := newEnv(t, broker.Config{TailSize: 16}, Config{})
	var want []uint64
	for i := range 250 {
		room := []string{"a", "b", "c"}[i%3]
		ev := e.publish(t, room, fmt.Sprint("t", i))[0]
		if room != "c" {
			want = append(want, ev.Offset)
		}
	}
	var got []uint64
	after := uint64(0)
	for range 1000 {
		r := e.poll(t, q("room", "a", "room", "b", "after", fmt.Sprint(after), "limit", "7", "timeout", "0"))
		if len(r.Events) > 7 {
			t.Fatalf("%d events, limit 7", len(r.Events))
		}
		if len(r.Events) == 0 {
			break
		}
		for _, ev := range r.Events {
			if ev.Room == "c" {
				t.Fatalf("event of room c: %+v", ev)
			}
		}
		got = append(got, r.offsets()...)
		after = *r.Next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged offsets = %v\nwant %v", got, want)
	}
}

// TestResetNamesRoom: with several rooms, a trim reset says which room
// it concerns; the other room's events still come, and next is where the
// client continues.
func TestResetNamesRoom(t *testing.T) {
	e := newEnv(t, broker.Config{TailSize: 1}, Config{})
	e.publish(t, "a", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "t10")
	e.publish(t, "b", "t11")
	if _, err := e.log.Trim(context.Background(), broker.Retention{MaxCount: 2}, time.Now()); err != nil {
		t.Fatal(err)
	}
	got := e.poll(t, q("room", "a", "room", "b", "after", "3"))
	if r := got.Reset; r == nil || r.Reason != "trimmed" || r.Room != "a" || r.Requested != 3 || r.Resume != 8 {
		t.Fatalf("reset = %+v, want room a trimmed from 3 to 8", got.Reset)
	}
	if want := []uint64{9, 10, 11}; !slices.Equal(got.offsets(), want) || *got.Next != 11 {
		t.Fatalf("offsets %v next %d, want %v next 11", got.offsets(), *got.Next, want)
	}
}

func TestResetBody(t *testing.T) {
	tests := []struct {
		name          string
		query         string
		trim          int
		wantReason    string
		wantRequested uint64
		wantResume    uint64
		wantFirst     uint64
	}{
		{name: "other epoch", query: q("room", "a", "after", "3", "epoch", "another-log"),
			wantReason: "epoch_mismatch", wantRequested: 3, wantResume: 0, wantFirst: 1},
		{name: "beyond head", query: q("room", "a", "after", "100"),
			wantReason: "epoch_mismatch", wantRequested: 100, wantResume: 0, wantFirst: 1},
		{name: "trimmed", query: q("room", "a", "after", "3"), trim: 2,
			wantReason: "trimmed", wantRequested: 3, wantResume: 8, wantFirst: 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, broker.Config{TailSize: 1}, Config{})
			e.publish(t, "a", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "t10")
			if tc.trim > 0 {
				if _, err := e.log.Trim(context.Background(), broker.Retention{MaxCount: tc.trim}, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			got := e.poll(t, tc.query)
			if got.Reset == nil || got.Reset.Reason != tc.wantReason || got.Reset.Requested != tc.wantRequested || got.Reset.Resume != tc.wantResume {
				t.Fatalf("reset = %+v, want reason %s requested %d resume %d", got.Reset, tc.wantReason, tc.wantRequested, tc.wantResume)
			}
			if want := seq(tc.wantFirst, 10); !slices.Equal(got.offsets(), want) || *got.Next != 10 {
				t.Fatalf("offsets %v next %d, want %v next 10", got.offsets(), *got.Next, want)
			}
			again := e.poll(t, q("room", "a", "after", "10", "timeout", "0"))
			if again.Reset != nil || len(again.Events) != 0 {
				t.Errorf("poll from next = %+v, want no reset and no events", again)
			}
		})
	}
}

func TestEphemeral(t *testing.T) {
	e := newEnv(t, broker.Config{}, Config{})
	p := holdPoll(t, e, q("room", "a"))
	p.until(func() {
		if _, err := e.b.PublishEphemeral(broker.Message{Room: "a", Type: "typing", Data: json.RawMessage(`{}`)}); err != nil {
			t.Error(err)
		}
	})
	got := p.wait(t)
	if len(got.Events) == 0 || *got.Next != 0 {
		t.Fatalf("got %+v next %d, want ephemeral events and next 0", got.Events, *got.Next)
	}
	for _, ev := range got.Events {
		if !ev.Ephemeral || ev.Offset != 0 || ev.Type != "typing" {
			t.Errorf("event %+v, want an ephemeral typing event without offset", ev)
		}
	}
}

func TestCloseReleasesPolls(t *testing.T) {
	tests := []struct {
		name  string
		close func(e *env)
	}{
		{name: "handler Close", close: func(e *env) { e.h.Close() }},
		{name: "broker Close", close: func(e *env) { e.b.Close() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, broker.Config{}, Config{})
			e.publish(t, "a", "t1")
			p := holdPoll(t, e, q("room", "a", "after", "1", "timeout", "60s"))
			start := time.Now()
			tc.close(e)
			got := p.wait(t)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("release took %v", d)
			}
			if len(got.Events) != 0 || *got.Next != 1 {
				t.Errorf("got %d events next %d, want none and next 1", len(got.Events), *got.Next)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp := e.get(t, ctx, q("room", "a", "after", "1"))
			defer resp.Body.Close()
			checkError(t, resp, http.StatusServiceUnavailable, "unavailable")
		})
	}
}

func TestBadRequest(t *testing.T) {
	var many []string
	for i := range 5 {
		many = append(many, "room", fmt.Sprint("r", i))
	}
	tests := []struct {
		name       string
		method     string
		query      string
		wantStatus int
		wantCode   string
		wantInMsg  string
	}{
		{name: "no room", query: q("after", "1"), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "room"},
		{name: "bad room", query: q("room", "a?b"), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "room"},
		{name: "too many rooms", query: q(many...), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "more than 4 rooms"},
		{name: "bad after", query: q("room", "a", "after", "ten"), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "after"},
		{name: "empty after", query: q("room", "a", "after", ""), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "after"},
		{name: "negative timeout", query: q("room", "a", "timeout", "-1s"), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "timeout"},
		{name: "negative seconds", query: q("room", "a", "timeout", "-5"), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "timeout"},
		{name: "garbage timeout", query: q("room", "a", "timeout", "soon"), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "timeout"},
		{name: "empty timeout", query: q("room", "a", "timeout", ""), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "timeout"},
		{name: "NaN timeout", query: q("room", "a", "timeout", "NaN"), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "timeout"},
		{name: "zero limit", query: q("room", "a", "limit", "0"), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "limit"},
		{name: "negative limit", query: q("room", "a", "limit", "-3"), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "limit"},
		{name: "garbage limit", query: q("room", "a", "limit", "many"), wantStatus: 400, wantCode: "invalid_argument", wantInMsg: "limit"},
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
			req, err := http.NewRequest(method, e.srv.URL+"/poll?"+tc.query, nil)
			if err != nil {
				t.Fatal(err)
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
