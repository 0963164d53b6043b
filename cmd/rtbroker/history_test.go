package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"
)

// historyRooms publishes into two fresh rooms, interleaved: prefix+"a"
// gets five events, prefix+"b" three. It returns each room's events.
func historyRooms(t *testing.T, base, prefix string) map[string][]wireEvent {
	t.Helper()
	c := newClient()
	out := map[string][]wireEvent{}
	for i, r := range []string{"a", "b", "a", "b", "a", "b", "a", "a"} {
		room := prefix + r
		out[room] = append(out[room], mustPublish(t, c, base, room, "chat:message", fmt.Appendf(nil, `{"n":%d}`, i)))
	}
	return out
}

// historyWant lists, in offset order, the offsets a subscriber that asked
// for each room's last n events (and, when after is not nil, for events
// after it: whichever starts later) is sent.
func historyWant(rooms map[string][]wireEvent, n int, after *uint64) []uint64 {
	var out []uint64
	for _, evs := range rooms {
		from := max(0, len(evs)-n)
		for _, ev := range evs[from:] {
			if after == nil || ev.Offset > *after {
				out = append(out, ev.Offset)
			}
		}
	}
	slices.Sort(out)
	return out
}

func ptr(v uint64) *uint64 { return &v }

// TestHistoryOnJoinSocketIO: room:join {room, history: N} sends the
// room's last N events, then live, once; with after, from whichever is
// later; several rooms each get their own last N; the ack says where the
// room started; and a session that drops after the history recovers
// exactly what it missed, without the history again.
func TestHistoryOnJoinSocketIO(t *testing.T) {
	s := startServer(t, "", "--max-history", "50")
	d := startSIODriver(t)
	c := newClient()
	tests := []struct {
		name    string
		history int
		after   *uint64 // an index into room a's events: after that event
		rooms   []string
		drop    bool // drop the connection after the history, publish, recover
	}{
		{name: "last 3", history: 3, rooms: []string{"a"}},
		{name: "more than the room has", history: 50, rooms: []string{"a"}},
		{name: "after is later than the history", history: 3, after: ptr(3), rooms: []string{"a"}},
		{name: "history is later than after", history: 2, after: ptr(0), rooms: []string{"a"}},
		{name: "several rooms, each its own last 2", history: 2, rooms: []string{"a", "b"}},
		{name: "recovery after a drop stays exact", history: 2, rooms: []string{"a", "b"}, drop: true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := fmt.Sprintf("hist%d-", i)
			all := historyRooms(t, s.URL, prefix)
			var after *uint64
			if tc.after != nil {
				after = ptr(all[prefix+"a"][*tc.after].Offset)
			}
			sock := "h" + strconv.Itoa(i)
			if r := d.connect(sock, s.URL, "", false); r["ok"] != true {
				t.Fatalf("connect: %v", r)
			}
			joined := map[string][]wireEvent{}
			for _, r := range tc.rooms {
				room := prefix + r
				joined[room] = all[room]
				arg := map[string]any{"room": room, "history": tc.history}
				if after != nil {
					arg["after"] = *after
				}
				ack := d.emit(sock, "room:join", arg)
				want := historyWant(map[string][]wireEvent{room: all[room]}, tc.history, after)
				wantStart := all[room][len(all[room])-1].Offset
				if len(want) > 0 {
					wantStart = want[0] - 1
					if after != nil && *after > wantStart {
						wantStart = *after
					}
				}
				if ack["ok"] != true || ack["recovered"] != true || uint64(ack["start"].(float64)) != wantStart || ack["head"] == nil {
					t.Fatalf("join %s ack %v, want ok, recovered, start %d", room, ack, wantStart)
				}
			}
			want := historyWant(joined, tc.history, after)
			live := mustPublish(t, c, s.URL, prefix+"a", "chat:message", []byte(`{"live":true}`))
			want = append(want, live.Offset)
			// Each room's events come in order; a room joined later
			// catches up after what the earlier ones were sent.
			got := d.until(sock, live.Offset)
			for _, r := range tc.rooms {
				var inRoom []uint64
				for _, ev := range got {
					if ev.Meta.Room == prefix+r {
						inRoom = append(inRoom, ev.Meta.Offset)
					}
				}
				if !slices.IsSorted(inRoom) {
					t.Fatalf("room %s received %v, out of order", r, inRoom)
				}
			}
			if sorted := slices.Sorted(slices.Values(offsets(got))); !slices.Equal(sorted, want) {
				t.Fatalf("received %v, want once each of %v", offsets(got), want)
			}
			if !tc.drop {
				return
			}
			d.do("engineClose", map[string]any{"name": sock})
			missed := []uint64{
				mustPublish(t, c, s.URL, prefix+"b", "chat:message", []byte(`{"missed":1}`)).Offset,
				mustPublish(t, c, s.URL, prefix+"a", "chat:message", []byte(`{"missed":2}`)).Offset,
			}
			if r := d.do("waitConnect", map[string]any{"name": sock}); r["recovered"] != true {
				t.Fatalf("reconnect: %v, want recovered", r)
			}
			if got := offsets(d.until(sock, missed[1])); !slices.Equal(got, missed) {
				t.Fatalf("after recovery received %v, want exactly %v", got, missed)
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		if r := d.connect("bad", s.URL, "", false); r["ok"] != true {
			t.Fatalf("connect: %v", r)
		}
		for _, h := range []any{51, -1, 1.5, "x", true} {
			ack := d.emit("bad", "room:join", map[string]any{"room": "lobby", "history": h})
			if e, _ := ack["error"].(map[string]any); ack["ok"] != false || e["code"] != "invalid_argument" {
				t.Errorf("history %v: ack %v, want invalid_argument", h, ack)
			}
		}
	})
}

// TestHistoryOnJoinHTTP: SSE and long-poll take history=N: each room's
// last N events (a room with fewer: all of them), then live; with after,
// from whichever is later; an SSE reconnect with Last-Event-ID resumes
// exactly, history or not; over --max-history is 400 invalid_argument.
func TestHistoryOnJoinHTTP(t *testing.T) {
	s := startServer(t, "", "--max-history", "50")
	c := newClient()
	tests := []struct {
		name    string
		history int
		after   *uint64 // an index into room a's events
	}{
		{name: "last 2 of each room", history: 2},
		{name: "more than the rooms have", history: 50},
		{name: "after is later than the history", history: 3, after: ptr(3)},
		{name: "history is later than after", history: 1, after: ptr(0)},
	}
	for i, tc := range tests {
		prefix := fmt.Sprintf("hh%d-", i)
		all := historyRooms(t, s.URL, prefix)
		rooms := []string{prefix + "a", prefix + "b"}
		q := url.Values{"room": rooms, "history": {strconv.Itoa(tc.history)}}
		var after *uint64
		if tc.after != nil {
			after = ptr(all[prefix+"a"][*tc.after].Offset)
			q.Set("after", strconv.FormatUint(*after, 10))
		}
		want := historyWant(all, tc.history, after)
		t.Run("long-poll: "+tc.name, func(t *testing.T) {
			var p page
			u := s.URL + "/poll?" + q.Encode() + "&timeout=0s"
			if st, body, err := getJSON(c, u, &p); err != nil || st != http.StatusOK {
				t.Fatalf("GET %s: %d %s %v", u, st, body, err)
			}
			var got []uint64
			for _, ev := range p.Events {
				got = append(got, ev.Offset)
			}
			if !slices.Equal(got, want) || p.Next != all[prefix+"a"][4].Offset {
				t.Fatalf("poll got %v next %d, want %v", got, p.Next, want)
			}
		})
		t.Run("sse: "+tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := openSSE(ctx, newStreamClient(), s.URL+"/sse?"+q.Encode(), "")
			if err != nil {
				t.Fatal(err)
			}
			defer st.close()
			live := mustPublish(t, c, s.URL, prefix+"b", "chat:message", []byte(`{"live":"sse"}`))
			var got []uint64
			for len(got) == 0 || got[len(got)-1] != live.Offset {
				ev, err := st.nextEvent()
				if err != nil {
					t.Fatalf("after %v: %v", got, err)
				}
				got = append(got, ev.Offset)
			}
			if w := append(slices.Clone(want), live.Offset); !slices.Equal(got, w) {
				t.Fatalf("received %v, want %v", got, w)
			}
		})
	}

	t.Run("sse: Last-Event-ID wins over history", func(t *testing.T) {
		all := historyRooms(t, s.URL, "hlast-")
		a := all["hlast-a"]
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := openSSE(ctx, newStreamClient(), s.URL+"/sse?room=hlast-a&history=1", strconv.FormatUint(a[0].Offset, 10))
		if err != nil {
			t.Fatal(err)
		}
		defer st.close()
		expectSSE(t, st, a[1:])
	})
	for _, bad := range []string{"51", "-1", "x", "1.5", "+3"} {
		for _, path := range []string{"/sse", "/poll"} {
			t.Run(path+" history="+bad, func(t *testing.T) {
				st, body, _ := (cred{}).do(t, "GET", s.URL+path+"?room=lobby&history="+url.QueryEscape(bad), "")
				if st != http.StatusBadRequest || errCode(body) != "invalid_argument" {
					t.Fatalf("%d %s, want 400 invalid_argument", st, body)
				}
			})
		}
	}
}
