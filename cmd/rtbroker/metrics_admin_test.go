package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/gateways/conns"
)

// TestMetricsDelivery: under load from publishers, with a live client of
// each transport (an SSE stream, a long-poll loop, the real
// socket.io-client), a client replaying from offset 0 and a client that
// never reads, /metrics shows the series of issue 13 that the older test
// does not: the sampled publish→deliver latency and the bytes delivered
// by transport, the replayed events by source, the Socket.IO sessions by
// namespace and Engine.IO transport, and the subscriber lag (the client
// that never reads falls behind).
func TestMetricsDelivery(t *testing.T) {
	srv := startServer(t, "", "--tail-size", "64", "--write-timeout", "60s")
	c := newClient()
	for i := range 10 { // replayed by the subscribers from offset 0
		mustPublish(t, c, srv.URL, "load", "t", fmt.Appendf(nil, `{"i":%d}`, i))
	}
	before := scrape(t, c, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	stream, err := openSSE(ctx, newStreamClient(), srv.URL+"/sse?room=load&after=0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.close()
	var got sync.WaitGroup
	got.Go(func() {
		for {
			if _, err := stream.next(); err != nil {
				return
			}
		}
	})
	d := startSIODriver(t)
	d.connect("s", srv.URL+"/", "", false)
	if ack := d.emit("s", "room:join", map[string]any{"room": "load", "after": 0}); ack["ok"] != true {
		t.Fatalf("join: %v", ack)
	}
	// A long-poll client following the room live.
	var polls sync.WaitGroup
	var polled atomic.Uint64 // how far the long-poll client got
	polled.Store(10)
	polls.Go(func() {
		for ctx.Err() == nil {
			p, err := poll(newStreamClient(), srv.URL, []string{"load"}, polled.Load(), "&timeout=2s")
			if err != nil {
				return
			}
			polled.Store(p.Next)
		}
	})
	// A client that never reads its stream of big events.
	host := strings.TrimPrefix(srv.URL, "http://")
	nc, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, "GET /sse?room=big&after=0 HTTP/1.1\r\nHost: %s\r\n\r\n", host)
	if line, err := bufio.NewReader(nc).ReadString('\n'); err != nil || !strings.Contains(line, "200") {
		t.Fatalf("never-reading client: %q %v", line, err)
	}
	waitMetric(t, c, srv.URL, "rtbroker_sse_streams", 2)
	waitMetric(t, c, srv.URL, "rtbroker_longpoll_requests", 1)

	var pubs sync.WaitGroup
	for w := range 4 {
		pubs.Go(func() {
			for i := range 100 {
				if _, err := publish(c, srv.URL, "load", "t", fmt.Appendf(nil, `{"w":%d,"i":%d}`, w, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	big := fmt.Appendf(nil, `{"pad":%q}`, strings.Repeat("x", 60000))
	for range 300 { // 18 MB: more than the sockets hold
		if _, err := publish(c, srv.URL, "big", "t", big); err != nil {
			t.Fatal(err)
		}
	}
	pubs.Wait()
	last := mustPublish(t, c, srv.URL, "load", "t", []byte(`{"last":true}`))
	d.until("s", last.Offset)
	// On a loaded machine the long-poll client may have caught up poll by
	// poll, each answered at once from the backlog: none of those is a
	// live delivery, and latency is sampled once every conns.SampleEvery
	// events. Events published one at a time while it holds a poll at the
	// head are live: publish them until a sample is taken.
	waitPolled := func(off uint64) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); polled.Load() < off; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the long-poll client got to %d, not %d", polled.Load(), off)
			}
		}
	}
	lpLatency := `rtbroker_publish_deliver_seconds_count{transport="longpoll"}`
	live := 0
	for ; scrape(t, c, srv.URL)[lpLatency] == before[lpLatency]; live++ {
		if live == 4*conns.SampleEvery {
			t.Fatalf("%d events delivered live to a held poll, and no latency sample", live)
		}
		waitPolled(last.Offset)
		waitMetric(t, c, srv.URL, "rtbroker_longpoll_requests", 1)
		last = mustPublish(t, c, srv.URL, "load", "t", []byte(`{"live":true}`))
		waitPolled(last.Offset)
	}
	if live > 0 {
		d.until("s", last.Offset)
	}

	// Connection state recovery: the socket's connection drops and it
	// recovers; a client with a made-up session is refused.
	d.do("engineClose", map[string]any{"name": "s"})
	if m := d.do("waitConnect", map[string]any{"name": "s"}); m["recovered"] != true {
		t.Errorf("reconnect %v, want recovered", m)
	}
	if m := d.try("connect", map[string]any{"name": "s2", "url": srv.URL + "/", "opts": map[string]any{"forceNew": true, "auth": map[string]any{"pid": "made-up", "offset": "zz"}}}); m["ok"] != true || m["recovered"] == true {
		t.Errorf("connect with a made-up session: %v, want a new session", m)
	}

	after := scrape(t, c, srv.URL)
	for _, tc := range []struct {
		series string
		min    float64 // the least it moved by
	}{
		{`rtbroker_publish_deliver_seconds_count{transport="sse"}`, 1},
		{`rtbroker_publish_deliver_seconds_count{transport="socketio"}`, 1},
		{`rtbroker_publish_deliver_seconds_count{transport="longpoll"}`, 1},
		{`rtbroker_delivered_bytes_total{transport="sse"}`, 400 * 20},
		{`rtbroker_delivered_bytes_total{transport="socketio"}`, 400 * 20},
		{`rtbroker_delivered_bytes_total{transport="longpoll"}`, 400 * 20},
		{`rtbroker_replayed_events_total{source="memory"}`, 10}, // the SSE stream and the socket from 0
		{`rtbroker_subscriber_lag_events_count`, 4},             // two SSE streams, the socket, the poll
		{"rtbroker_subscriber_lag_max_events", 1},               // the client that never reads
		{`rtbroker_subscriber_lag_events_bucket{le="1000"}`, 3}, // the client that never reads may be further behind
		{`rtbroker_socketio_recoveries_total{outcome="recovered",reason=""}`, 1},
		{`rtbroker_socketio_recoveries_total{outcome="refused",reason="bad_offset"}`, 1},
	} {
		t.Run(tc.series, func(t *testing.T) {
			if moved := after[tc.series] - before[tc.series]; moved < tc.min {
				t.Errorf("%s moved by %g (from %g to %g), want at least %g", tc.series, moved, before[tc.series], after[tc.series], tc.min)
			}
		})
	}
	if n := after[`rtbroker_socketio_sessions{engine="websocket",namespace="/"}`] + after[`rtbroker_socketio_sessions{engine="polling",namespace="/"}`]; n != 2 {
		t.Errorf("rtbroker_socketio_sessions of / = %g, want 2", n)
	}
	for _, series := range []string{`rtbroker_replayed_events_total{source="disk"}`, `rtbroker_limit_rejections_total{limit="sockets_per_ip"}`} {
		if _, ok := after[series]; !ok {
			t.Errorf("%s missing from /metrics", series)
		}
	}
	cancel()
	nc.Close()
	polls.Wait()
	stream.close()
	got.Wait()
}
