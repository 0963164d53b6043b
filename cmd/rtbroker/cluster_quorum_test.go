package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestClusterQuorumLost (issue 14, failure behaviour): three rtbroker
// processes with embedded NATS behind HAProxy; two are killed with
// SIGKILL, so the cluster has no quorum. The survivor's /readyz answers
// 503 with the reason, and HAProxy, with no ready node, sends requests to
// the live one: publishes are refused 503 unavailable (HTTP and Socket.IO
// acks; a Socket.IO room:join too, as it records the session first), reads
// of what was committed go on (REST, long-poll, SSE). Once a
// killed node is back, publishes are taken again and offsets go on.
func TestClusterQuorumLost(t *testing.T) {
	nodes := startRTBNodes(t, embeddedClusterArgs(t))
	lb := startHAProxy(t, nodes)
	c := &http.Client{Timeout: 15 * time.Second}
	const room = "quorum"
	var before []wireEvent
	for i := range 5 {
		before = append(before, mustPublish(t, c, lb, room, "chat", fmt.Appendf(nil, `{"n":%d}`, i)))
	}
	waitRoomHead(t, c, nodes[0].url, room, before[len(before)-1].Offset) // the survivor has them all (fan-out)

	nodes[1].kill()
	nodes[2].kill()
	waitReady(t, nodes[0].url, http.StatusServiceUnavailable, 30*time.Second)
	var h healthBody
	status, body, err := getJSON(c, nodes[0].url+"/readyz", nil)
	if err == nil {
		err = json.Unmarshal(body, &h)
	}
	if err != nil || status != 503 || h.Status != "degraded" || !strings.Contains(strings.Join(h.Reasons, " "), "publishes are refused") {
		t.Fatalf("/readyz without quorum: %d %s %v", status, body, err)
	}

	if v, err := metric(c, nodes[0].url, "rtbroker_storage_unavailable"); err != nil || v != 1 {
		t.Errorf("rtbroker_storage_unavailable = %v (%v), want 1", v, err)
	}

	// Publishes are refused, on the node and through HAProxy (once it has
	// seen no node ready).
	start := time.Now()
	if res, err := publish(c, nodes[0].url, room, "chat", []byte(`{"n":"refused"}`)); err != nil || res.status != http.StatusServiceUnavailable || !isUnavailable(res.body) {
		t.Errorf("publish without quorum: %d %s %v, want 503 unavailable", res.status, res.body, err)
	}
	t.Logf("HTTP publish refused in %s", time.Since(start))
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := publish(c, lb, room, "chat", []byte(`{"n":"refused"}`), "Idempotency-Key", "refused")
		if err == nil && res.status == http.StatusServiceUnavailable && isUnavailable(res.body) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish through HAProxy without quorum: %d %s %v, want 503 unavailable", res.status, res.body, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	d := startSIODriver(t)
	if r := d.connect("s", nodes[0].url, "", false); r["ok"] != true {
		t.Logf("Socket.IO connect without quorum: %v", r)
	} else {
		start := time.Now()
		m := d.do("emit", map[string]any{"name": "s", "event": "chat", "args": []any{map[string]any{"room": room, "n": "refused"}}, "ack": true, "timeout": 30000})
		t.Logf("Socket.IO publish refused in %s", time.Since(start))
		acks, _ := m["ack"].([]any)
		ack, _ := acks[0].(map[string]any)
		if e, _ := ack["error"].(map[string]any); ack["ok"] != false || e["code"] != "unavailable" {
			t.Errorf("Socket.IO publish without quorum acked %v, want ok false, code unavailable", ack)
		}
		// A join records the session before it answers: refused too.
		m = d.do("emit", map[string]any{"name": "s", "event": "room:join", "args": []any{map[string]any{"room": room}}, "ack": true, "timeout": 30000})
		acks, _ = m["ack"].([]any)
		ack, _ = acks[0].(map[string]any)
		if e, _ := ack["error"].(map[string]any); ack["ok"] != false || e["code"] != "unavailable" {
			t.Errorf("Socket.IO room:join without quorum acked %v, want ok false, code unavailable", ack)
		}
	}

	// Reads go on: REST, long-poll and SSE through HAProxy.
	if got := readRoom(t, c, lb, room); diffEvents(got, before) != "" {
		t.Errorf("read without quorum: %s", diffEvents(got, before))
	}
	p, err := poll(c, lb, []string{room}, 0, "&timeout=1s")
	if err != nil || diffEvents(p.Events, before) != "" {
		t.Errorf("long-poll without quorum: %v %s", err, diffEvents(p.Events, before))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := openSSE(ctx, newStreamClient(), lb+"/sse?"+url.Values{"room": {room}, "after": {"0"}}.Encode(), "")
	if err != nil {
		t.Errorf("SSE without quorum: %v", err)
	} else {
		expectSSE(t, st, before)
		st.close()
	}

	// A killed node comes back: a majority again.
	back := startRTBNodes(t, [][]string{nodes[1].args})
	waitReady(t, nodes[0].url, http.StatusOK, 60*time.Second)
	waitReady(t, back[0].url, http.StatusOK, 60*time.Second)
	if v, err := metric(c, nodes[0].url, "rtbroker_storage_unavailable"); err != nil || v != 0 {
		t.Errorf("rtbroker_storage_unavailable = %v (%v) with quorum back, want 0", v, err)
	}
	var ev wireEvent
	deadline = time.Now().Add(30 * time.Second)
	for {
		res, err := publish(c, lb, room, "chat", []byte(`{"n":"after"}`), "Idempotency-Key", "after")
		if err == nil && res.status == http.StatusCreated {
			ev = res.ev
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish after quorum came back: %d %s %v", res.status, res.body, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ev.Offset != before[len(before)-1].Offset+1 {
		t.Errorf("publish after quorum came back got offset %d, want %d (nothing committed while refused)", ev.Offset, before[len(before)-1].Offset+1)
	}
}

// isUnavailable reports whether body is the JSON error with code
// "unavailable".
func isUnavailable(body []byte) bool {
	var e struct {
		Error struct{ Code, Message string }
	}
	return json.Unmarshal(body, &e) == nil && e.Error.Code == "unavailable" && e.Error.Message != ""
}

// waitRoomHead waits until base reads room up to offset head.
func waitRoomHead(t *testing.T, c *http.Client, base, room string, head uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs := readRoom(t, c, base, room)
		if len(evs) > 0 && evs[len(evs)-1].Offset >= head {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: room %s not read up to %d within 30s (have %d events)", base, room, head, len(evs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
