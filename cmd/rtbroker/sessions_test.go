package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestSessionsAreNotEvents: Socket.IO session records live beside the log,
// so they are held to no event limit and counted by no event metric.
// With --max-data-size 100, sockets connect, join and leave (each writes a
// session record well over 100 bytes), publishes within the limit succeed
// and one over it is acked too_large; /metrics then counts the user events
// only, and the log head moved with the publishes alone.
func TestSessionsAreNotEvents(t *testing.T) {
	srv := startServer(t, "", "--max-data-size", "100")
	sio := startSIODriver(t)
	for _, name := range []string{"a", "b", "c"} {
		if m := sio.connect(name, srv.URL, "", false); m["error"] != nil {
			t.Fatalf("connect %s: %v", name, m)
		}
		if ack := sio.emit(name, "room:join", map[string]any{"room": "s-" + name}); ack["ok"] != true {
			t.Fatalf("join %s: %v", name, ack)
		}
		if ack := sio.emit(name, "room:join", map[string]any{"room": "shared"}); ack["ok"] != true {
			t.Fatalf("join shared %s: %v", name, ack)
		}
	}
	published := 0
	for _, name := range []string{"a", "b", "c"} {
		ack := sio.emit(name, "chat", map[string]any{"room": "shared", "text": "hi"})
		if ack["ok"] != true {
			t.Fatalf("publish %s: %v", name, ack)
		}
		published++
	}
	ack := sio.emit("a", "chat", map[string]any{"room": "shared", "text": strings.Repeat("x", 200)})
	if errObj, _ := ack["error"].(map[string]any); ack["ok"] != false || errObj["code"] != "too_large" {
		t.Errorf("a publish over --max-data-size: ack %v, want too_large", ack)
	}
	mustPublish(t, http.DefaultClient, srv.URL, "shared", "t", []byte(`1`))
	published++
	if ack := sio.emit("b", "room:leave", map[string]any{"room": "shared"}); ack["ok"] != true {
		t.Fatalf("leave: %v", ack)
	}

	var h struct{ Head uint64 }
	if _, body, err := getJSON(http.DefaultClient, srv.URL+"/healthz", &h); err != nil {
		t.Fatalf("healthz: %v %s", err, body)
	}
	if h.Head != uint64(published) {
		t.Errorf("log head %d after %d publishes", h.Head, published)
	}
	if got, err := metric(http.DefaultClient, srv.URL, "rtbroker_events_published_total"); err != nil || got != float64(published) {
		t.Errorf("rtbroker_events_published_total = %v (%v), want %d (the user events)", got, err, published)
	}
	if strings.Contains(srv.logs.String(), "level=ERROR") {
		t.Errorf("server logged an error:\n%s", srv.logs.String())
	}
}
