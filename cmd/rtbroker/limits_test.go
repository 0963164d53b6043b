package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestConnSlotReleased: once a client's stream ends, its slot under
// --max-conns-per-ip is free again. (The refusals over the limit are in
// the hostile tables.)
func TestConnSlotReleased(t *testing.T) {
	s := startServer(t, "", "--max-conns-per-ip", "1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := openSSE(ctx, newStreamClient(), s.URL+"/sse?room=general", "")
	if err != nil {
		t.Fatal(err)
	}
	if status, body, _ := doReq(t, "GET", s.URL+"/poll?room=general&timeout=0", "", nil); status != http.StatusTooManyRequests {
		t.Fatalf("poll while the stream is open: %d %s", status, body)
	}
	// Once the stream ends, the IP's slot is free again.
	stream.close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body, _ := doReq(t, "GET", s.URL+"/poll?room=general&timeout=0", "", nil)
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not released: %d %s", status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if logs := s.logs.String(); strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "level=WARN") {
		t.Errorf("unexpected log:\n%s", logs)
	}
}
