package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAfterZeroAfterRetention holds every transport to one rule: once
// retention has removed a room's first events, after=0 (everything
// retained) starts at the earliest retained event with no reset, while a
// position N > 0 whose following events were removed is told with a
// trimmed reset.
func TestAfterZeroAfterRetention(t *testing.T) {
	srv := startServer(t, "", "--retention-max-count", "1", "--retention-interval", "20ms")
	const room = "kept"
	var last wireEvent
	for range 3 {
		last = mustPublish(t, http.DefaultClient, srv.URL, room, "t", []byte(`1`))
	}
	waitTrimmed(t, srv.URL, room, 2, func(u string, v any) {
		if _, _, err := getJSON(http.DefaultClient, u, v); err != nil {
			t.Fatal(err)
		}
	})
	sio := startSIODriver(t)
	sio.connect("a", srv.URL, "", false)

	for _, tc := range []struct {
		transport string
		after     uint64
		wantReset bool
	}{
		{"history", 0, false}, {"history", 1, true},
		{"poll", 0, false}, {"poll", 1, true},
		{"sse", 0, false}, {"sse", 1, true},
		{"socketio", 0, false}, {"socketio", 1, true},
	} {
		t.Run(fmt.Sprintf("%s after=%d", tc.transport, tc.after), func(t *testing.T) {
			var reset map[string]any
			var first uint64
			switch tc.transport {
			case "history", "poll":
				u := fmt.Sprintf("%s/api/rooms/%s/events?after=%d", srv.URL, room, tc.after)
				if tc.transport == "poll" {
					u = fmt.Sprintf("%s/poll?room=%s&after=%d&timeout=0s", srv.URL, room, tc.after)
				}
				var page struct {
					Events []wireEvent    `json:"events"`
					Reset  map[string]any `json:"reset"`
				}
				if st, body, err := getJSON(http.DefaultClient, u, &page); err != nil || st != http.StatusOK {
					t.Fatalf("%s: %d %v %s", u, st, err, body)
				}
				reset = page.Reset
				if len(page.Events) > 0 {
					first = page.Events[0].Offset
				}
			case "sse":
				reset, first = sseFirst(t, fmt.Sprintf("%s/sse?room=%s&after=%d", srv.URL, room, tc.after))
			case "socketio":
				ack := sio.emit("a", "room:join", map[string]any{"room": room, "after": tc.after})
				reset, _ = ack["reset"].(map[string]any)
				sio.emit("a", "room:leave", map[string]any{"room": room})
				first = last.Offset // the join's replay is checked by the Socket.IO tests
			}
			if got := reset != nil; got != tc.wantReset {
				t.Fatalf("reset = %v, want one: %v", reset, tc.wantReset)
			}
			if reset != nil && (reset["reason"] != "trimmed" || reset["requested"] != float64(tc.after)) {
				t.Errorf("reset = %v, want trimmed, requested %d", reset, tc.after)
			}
			if first != last.Offset {
				t.Errorf("first event %d, want the earliest retained, %d", first, last.Offset)
			}
		})
	}
}

// waitTrimmed waits until retention has removed at least atLeast events
// of room, reading /api/rooms with get.
func waitTrimmed(t *testing.T, base, room string, atLeast uint64, get func(u string, v any)) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var rooms struct {
			Rooms []struct {
				Room    string `json:"room"`
				Trimmed uint64 `json:"trimmed"`
			} `json:"rooms"`
		}
		get(base+"/api/rooms", &rooms)
		for _, r := range rooms.Rooms {
			if r.Room == room && r.Trimmed >= atLeast {
				return
			}
		}
	}
	t.Fatal("retention did not run")
}

// sseFirst opens an SSE stream and returns its first frame with an id:
// the reset's data if it is a reset, else the event's offset.
func sseFirst(t *testing.T, u string) (map[string]any, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := newStreamClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var event string
	var reset map[string]any
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "reset":
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &reset); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(line, "data: "):
			var ev wireEvent
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil {
				t.Fatal(err)
			}
			return reset, ev.Offset // a reset comes before the first event
		}
	}
	t.Fatalf("stream ended: %v", sc.Err())
	return nil, 0
}
