package main

import (
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"
)

// TestBareSocketIO runs the storm ceiling's exchange with a real
// WebSocket client: what rtbench's subscriber needs to count itself
// subscribed, a publish to its room, and a reconnection that names its pid.
func TestBareSocketIO(t *testing.T) {
	sio := newBareSocketIO()
	srv := httptest.NewServer(sio)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exchange := func(send, want string) {
		t.Helper()
		if send != "" {
			if err := c.WriteMessage(websocket.TextMessage, []byte(send)); err != nil {
				t.Fatal(err)
			}
		}
		_, p, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(p), want) {
			t.Fatalf("after %q: got %q, want %q…", send, p, want)
		}
	}
	exchange("", `0{"sid":"1",`)
	exchange("40", `40{"sid":"1","pid":"p1"}`)
	exchange("2", "3")
	exchange(`4217["room:join",{"room":"r0","after":0}]`, `4317[{"ok":true}]`)
	var offsets atomic.Uint64
	sio.publish("r1", []byte(`{"t":1}`), &offsets) // another room's
	if off := sio.publish("r0", []byte(`{"t":2}`), &offsets); off != 2 {
		t.Errorf("publish: offset %d, want 2", off)
	}
	exchange("", `42["bench",{"t":2},{"offset":2}]`)
	exchange(`40{"pid":"p9","offset":"x"}`, `40{"sid":"1","pid":"p9"}`)

	if _, _, err := websocket.DefaultDialer.Dial(strings.Replace(url, "websocket", "polling", 1), nil); err == nil {
		t.Error("a polling transport was upgraded")
	}
	for _, p := range []string{`42["room:join",{"room":"r"}]`, `421["room:leave",{"room":"r"}]`, `421["room:join"`, "3", "41", ""} {
		if got, room := bareAnswer([]byte(p), "1"); got != nil || room != "" {
			t.Errorf("bareAnswer(%q) = %q, %q, want none", p, got, room)
		}
	}
}
