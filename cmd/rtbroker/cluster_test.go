package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// Cluster tests: several rtbroker nodes (in-process servers on 127.0.0.1:0,
// each with its own NATS connection) on one embedded nats-server, as
// several processes behind a load balancer would be.

// startNodes starts n nodes on one JetStream server with args added to
// each node's.
func startNodes(t *testing.T, n int, args ...string) []*testServer {
	t.Helper()
	url := startNATS(t)
	nodes := make([]*testServer, n)
	for i := range nodes {
		nodes[i] = startServer(t, "", append([]string{"--store", "jetstream", "--nats-url", url}, args...)...)
	}
	return nodes
}

// pollAll long-polls rooms on base from after until it holds n events,
// failing the test after a generous time.
func pollAll(t *testing.T, c *http.Client, base string, rooms []string, after uint64, n int) []wireEvent {
	t.Helper()
	var out []wireEvent
	deadline := time.Now().Add(60 * time.Second)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("long-poll of %v on %s: %d of %d events within 60s", rooms, base, len(out), n)
		}
		p, err := poll(c, base, rooms, after, "&timeout=5s")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Events...)
		after = p.Next
	}
	return out
}

// TestClusterFanOut: events published on node B reach subscribers on node
// A over Socket.IO (socket.io-client), SSE and long-poll, every one once
// and in order, the same as the log reads back.
func TestClusterFanOut(t *testing.T) {
	const n = 60
	nodes := startNodes(t, 2)
	a, b := nodes[0], nodes[1]
	c := newClient()
	room := "fan.out" // a dot: escaped in the subject
	d := startSIODriver(t)
	if r := d.connect("sio", a.URL, "", false); r["ok"] != true {
		t.Fatalf("connect: %v", r)
	}
	if ack := d.emit("sio", "room:join", map[string]any{"room": room}); ack["ok"] != true {
		t.Fatalf("join: %v", ack)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stream, err := openSSE(ctx, newStreamClient(), a.URL+"/sse?room="+room, "")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.close()
	var polled []wireEvent
	var wg sync.WaitGroup
	wg.Go(func() { polled = pollAll(t, c, a.URL, []string{room}, 0, n) })

	for i := range n {
		mustPublish(t, c, b.URL, room, "chat:message", fmt.Appendf(nil, `{"i":%d}`, i))
	}
	want := readRoom(t, c, b.URL, room)
	if len(want) != n {
		t.Fatalf("node B reads %d events, want %d", len(want), n)
	}
	expectSSE(t, stream, want)
	wg.Wait()
	if d := diffEvents(polled, want); d != "" {
		t.Fatalf("long-poll on A: %s", d)
	}
	got := d.until("sio", want[n-1].Offset)
	var wantOffs []uint64
	for _, ev := range want {
		wantOffs = append(wantOffs, ev.Offset)
	}
	if !slices.Equal(offsets(got), wantOffs) {
		t.Fatalf("Socket.IO on A received %v, want %v", offsets(got), wantOffs)
	}
	if ra := readRoom(t, c, a.URL, room); diffEvents(ra, want) != "" {
		t.Fatalf("node A reads back: %s", diffEvents(ra, want))
	}
}
