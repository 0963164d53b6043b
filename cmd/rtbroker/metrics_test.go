package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// scrape GETs /metrics and returns every sample by its series ("name" or
// `name{label="v",…}`).
func scrape(t *testing.T, c *http.Client, base string) map[string]float64 {
	t.Helper()
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	out := map[string]float64{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetricsUnderLoad: a real server with an SSE subscriber, a
// long-poll and a Socket.IO client (the real socket.io-client) in one
// room takes publishes over HTTP and Socket.IO and a refused credential;
// /metrics (client_golang's text format) then shows each counter moved by
// what happened, and the Go runtime and process metrics.
func TestMetricsUnderLoad(t *testing.T) {
	srv := startServer(t, "", "--tail-size", "4")
	c := newClient()
	before := scrape(t, c, srv.URL)
	const n = 10
	for i := range n { // before the subscribers: the long-poll replays them from disk
		mustPublish(t, c, srv.URL, "load", "t", fmt.Appendf(nil, `{"i":%d}`, i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := openSSE(ctx, newStreamClient(), srv.URL+"/sse?room=load&after=0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.close()
	d := startSIODriver(t)
	d.connect("s", srv.URL+"/", "", false)
	if ack := d.emit("s", "room:join", map[string]any{"room": "load", "after": 0}); ack["ok"] != true {
		t.Fatalf("join: %v", ack)
	}
	last := mustPublish(t, c, srv.URL, "load", "t", []byte(`{"last":true}`))
	if ack := d.emit("s", "chat:message", map[string]any{"room": "load", "text": "hi"}); ack["ok"] != true {
		t.Fatalf("Socket.IO publish: %v", ack)
	}
	for range n + 1 {
		if _, err := stream.nextEvent(); err != nil {
			t.Fatal(err)
		}
	}
	d.until("s", last.Offset)
	if _, err := poll(c, srv.URL, []string{"load"}, 0, "&timeout=0s"); err != nil {
		t.Fatal(err)
	}
	if r, err := publish(c, srv.URL, "load", "t", []byte(`{}`), "Authorization", "Bearer not-a-token"); err != nil || r.status != http.StatusUnauthorized {
		t.Fatalf("publish with a bad token: %d %v", r.status, err)
	}
	after := scrape(t, c, srv.URL)

	for _, tc := range []struct {
		series string
		min    float64 // the least it moved by
	}{
		{"rtbroker_events_published_total", n + 2},
		{"rtbroker_commits_total", 2},
		{"rtbroker_commit_batch_events_count", 2},
		{"rtbroker_commit_batch_events_sum", n + 2},
		{"rtbroker_commit_seconds_count", 2},
		{"rtbroker_commit_fsync_seconds_count", 2},
		{"rtbroker_room_joins_total", 3}, // SSE, Socket.IO, long-poll
		{`rtbroker_deliveries_total{transport="sse"}`, n + 1},
		{`rtbroker_deliveries_total{transport="socketio"}`, n + 1},
		{`rtbroker_deliveries_total{transport="longpoll"}`, n},
		{`rtbroker_subscription_events_read_total{source="disk"}`, 1},
		{`rtbroker_subscription_events_read_total{source="memory"}`, 1},
		{`rtbroker_auth_failures_total{reason="other"}`, 1}, // no key configured: an unknown credential
		{`rtbroker_connections{namespace="/",transport="socketio"}`, 1},
		{`rtbroker_connections{namespace="",transport="sse"}`, 1},
		{"rtbroker_socketio_sockets", 1},
		{"rtbroker_rooms", 1},
		{"rtbroker_log_head", n + 2},
	} {
		t.Run(tc.series, func(t *testing.T) {
			if got := after[tc.series] - before[tc.series]; got < tc.min {
				t.Errorf("%s moved by %g (from %g to %g), want at least %g", tc.series, got, before[tc.series], after[tc.series], tc.min)
			}
		})
	}
	for _, series := range []string{"go_goroutines", "process_resident_memory_bytes", "rtbroker_log_file_bytes",
		`rtbroker_limit_rejections_total{limit="publish_rate"}`, `rtbroker_recoveries_total{outcome="refused",reason="trimmed"}`, "rtbroker_storage_full", "rtbroker_storage_unavailable"} {
		if _, ok := after[series]; !ok {
			t.Errorf("%s missing from /metrics", series)
		}
	}
	if after["rtbroker_log_file_bytes"] <= 0 {
		t.Errorf("rtbroker_log_file_bytes = %g", after["rtbroker_log_file_bytes"])
	}
}
