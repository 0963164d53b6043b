package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
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
func startNodes(t testing.TB, n int, args ...string) []*testServer {
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

// TestClusterEphemeral: typing and presence events cross nodes through
// core NATS, never stored: ada types on node A, bob on node B is told; bob
// is told of ada's arrival on A; nothing takes an offset.
func TestClusterEphemeral(t *testing.T) {
	nodes := startNodes(t, 2, "--jwt-secret", testSecret, "--presence-events")
	a, b := nodes[0], nodes[1]
	d := startSIODriver(t)
	d.connect("bob", b.URL, presenceToken(t, "bob", true), false)
	d.emit("bob", "room:join", map[string]any{"room": "general"})
	if typ, n := nextPresence(t, d, "bob", "bob"); typ != "presence:join" || n != 1 {
		t.Fatalf("bob's own join: %s %d", typ, n)
	}
	d.connect("ada", a.URL, presenceToken(t, "ada", true), false)
	d.emit("ada", "room:join", map[string]any{"room": "general"})
	if typ, n := nextPresence(t, d, "bob", "ada"); typ != "presence:join" || n != 2 {
		t.Fatalf("ada's join, seen on B: %s %d", typ, n)
	}
	if ack := d.emit("ada", "typing:start", map[string]any{"room": "general"}); ack["ok"] != true || ack["ephemeral"] != true {
		t.Fatalf("typing:start ack %v", ack)
	}
	if got := typingEvents(t, d, "bob", 1); got[0] != "typing:start ada" {
		t.Fatalf("bob on B got %v, want ada's typing:start", got)
	}
	d.emit("ada", "typing:stop", map[string]any{"room": "general"})
	if got := typingEvents(t, d, "bob", 1); got[0] != "typing:stop ada" {
		t.Fatalf("bob on B got %v, want ada's typing:stop", got)
	}
	c := newClient()
	for _, n := range nodes {
		if h := getHealth(t, c, n.URL); h.Head != 0 {
			t.Fatalf("head %d: an ephemeral event was stored", h.Head)
		}
	}
}

// TestClusterPresence: a user connected to two nodes is one member,
// listed the same by both; a node killed with SIGKILL takes its members
// away within --presence-node-ttl, and the other node's subscribers are
// told they left.
func TestClusterPresence(t *testing.T) {
	natsURL := startNATS(t)
	flags := []string{"--store", "jetstream", "--nats-url", natsURL, "--jwt-secret", testSecret, "--presence-events", "--presence-node-ttl", "3s"}
	a := startServer(t, "", flags...)
	proc, bURL := startProcess(t, t.TempDir(), flags...)
	ada, bob, carol := presenceToken(t, "ada", true), presenceToken(t, "bob", true), presenceToken(t, "carol", true)
	d := startSIODriver(t)
	join := func(name, base, token string) {
		t.Helper()
		if r := d.connect(name, base, token, false); r["ok"] != true {
			t.Fatalf("connect %s: %v", name, r)
		}
		if ack := d.emit(name, "room:join", map[string]any{"room": "general"}); ack["ok"] != true {
			t.Fatalf("join %s: %v", name, ack)
		}
	}
	join("carol", a.URL, carol) // the watcher, on A
	join("ada-a", a.URL, ada)
	join("ada-b", bURL, ada)
	join("bob", bURL, bob)
	want := "count=3 anonymous=0 listed=true [ada:2:[socket.io] bob:1:[socket.io] carol:1:[socket.io]]"
	waitPresence := func(base, want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := getPresence(t, base, "general", carol, http.StatusOK).summary()
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("presence on %s: %s, want %s", base, got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitPresence(a.URL, want)
	waitPresence(bURL, want)
	if typ, _ := nextPresence(t, d, "carol", "bob"); typ != "presence:join" {
		t.Fatalf("carol on A: %s, want bob's presence:join", typ)
	}

	if err := proc.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if typ, n := nextPresence(t, d, "carol", "bob"); typ != "presence:leave" || n != 2 {
		t.Fatalf("carol on A: %s %d, want bob's presence:leave with 2 left", typ, n)
	}
	t.Logf("bob left %v after node B was killed (--presence-node-ttl 3s)", time.Since(killed).Round(100*time.Millisecond))
	waitPresence(a.URL, "count=2 anonymous=0 listed=true [ada:1:[socket.io] carol:1:[socket.io]]")
}

// switchProxy is a load balancer of one backend at a time, which the test
// moves: an HTTP reverse proxy that carries WebSocket upgrades.
type switchProxy struct {
	mu     sync.Mutex
	target *url.URL
}

func (p *switchProxy) to(t *testing.T, base string) {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.target = u
	p.mu.Unlock()
}

func (p *switchProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
}

// TestClusterRecoveryOnAnotherNode: a Socket.IO client behind a load
// balancer loses its connection to node A and reconnects through the
// balancer to node B: recovered === true, and it receives exactly what was
// published meanwhile (on A), once.
func TestClusterRecoveryOnAnotherNode(t *testing.T) {
	nodes := startNodes(t, 2)
	a, b := nodes[0], nodes[1]
	c := newClient()
	proxy := &switchProxy{}
	proxy.to(t, a.URL)
	lb := httptest.NewServer(proxy)
	defer lb.Close()
	d := startSIODriver(t)
	if r := d.connect("s", lb.URL, "", false); r["ok"] != true {
		t.Fatalf("connect: %v", r)
	}
	if r := d.do("waitUpgrade", map[string]any{"name": "s"}); r["transport"] != "websocket" {
		t.Fatalf("upgrade: %v", r)
	}
	if ack := d.emit("s", "room:join", map[string]any{"room": "rec"}); ack["ok"] != true {
		t.Fatalf("join: %v", ack)
	}
	first := mustPublish(t, c, a.URL, "rec", "chat:message", []byte(`{"n":1}`))
	if got := offsets(d.until("s", first.Offset)); !slices.Equal(got, []uint64{first.Offset}) {
		t.Fatalf("received %v", got)
	}
	proxy.to(t, b.URL)
	d.do("engineClose", map[string]any{"name": "s"})
	var missed []uint64
	for i := range 5 {
		missed = append(missed, mustPublish(t, c, a.URL, "rec", "chat:message", fmt.Appendf(nil, `{"missed":%d}`, i)).Offset)
	}
	r := d.do("waitConnect", map[string]any{"name": "s"})
	if r["recovered"] != true {
		t.Fatalf("reconnect through the balancer to B: %v, want recovered", r)
	}
	if got := offsets(d.until("s", missed[len(missed)-1])); !slices.Equal(got, missed) {
		t.Fatalf("after recovery on B received %v, want exactly %v", got, missed)
	}
	live := mustPublish(t, c, a.URL, "rec", "chat:message", []byte(`{"live":true}`))
	if got := offsets(d.until("s", live.Offset)); !slices.Equal(got, []uint64{live.Offset}) {
		t.Fatalf("live on B received %v, want %d", got, live.Offset)
	}
}

// TestClusterStress: publishers on all three nodes at once, and on every
// node a Socket.IO socket, an SSE stream and a long-poll client following
// three rooms: every subscriber sees, per room, exactly the room's events
// as the log reads back (checked on every node), in order, no gap, no
// duplicate.
func TestClusterStress(t *testing.T) {
	const pubsPerNode, perPub = 3, 30
	nodes := startNodes(t, 3)
	rooms := []string{"s.a", "s.b", "s.c"}
	c := newClient()
	d := startSIODriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	q := url.Values{"room": rooms}.Encode()
	streams := make([]*sseStream, len(nodes))
	for i, n := range nodes {
		sock := fmt.Sprint("sio", i)
		if r := d.connect(sock, n.URL, "", false); r["ok"] != true {
			t.Fatalf("connect: %v", r)
		}
		for _, room := range rooms {
			if ack := d.emit(sock, "room:join", map[string]any{"room": room, "after": 0}); ack["ok"] != true {
				t.Fatalf("join: %v", ack)
			}
		}
		s, err := openSSE(ctx, newStreamClient(), n.URL+"/sse?after=0&"+q, "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.close()
		streams[i] = s
	}
	var wg sync.WaitGroup
	for i, n := range nodes {
		for p := range pubsPerNode {
			wg.Go(func() {
				for k := range perPub {
					room := rooms[(i+p+k)%len(rooms)]
					r, err := publish(c, n.URL, room, "chat:message", fmt.Appendf(nil, `{"node":%d,"pub":%d,"k":%d}`, i, p, k))
					if err != nil || r.status != http.StatusCreated {
						t.Errorf("publish on node %d: %d %s %v", i, r.status, r.body, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// The marker, the last event of all: what came before it has come.
	marker := mustPublish(t, c, nodes[0].URL, rooms[0], "chat:message", []byte(`{"marker":true}`))
	total := len(nodes)*pubsPerNode*perPub + 1
	if marker.Offset != uint64(total) {
		t.Fatalf("marker at %d, want %d", marker.Offset, total)
	}
	want := map[string][]wireEvent{}
	for _, room := range rooms {
		want[room] = readRoom(t, c, nodes[0].URL, room)
		for i, n := range nodes[1:] {
			if diff := diffEvents(readRoom(t, c, n.URL, room), want[room]); diff != "" {
				t.Fatalf("room %s read back on node %d: %s", room, i+1, diff)
			}
		}
	}
	check := func(who string, got []wireEvent) {
		t.Helper()
		byRoom := map[string][]wireEvent{}
		for _, ev := range got {
			byRoom[ev.Room] = append(byRoom[ev.Room], ev)
		}
		for _, room := range rooms {
			if diff := diffEvents(byRoom[room], want[room]); diff != "" {
				t.Fatalf("%s, room %s: %s", who, room, diff)
			}
		}
	}
	for i, n := range nodes {
		var sse []wireEvent
		for len(sse) < total {
			ev, err := streams[i].nextEvent()
			if err != nil {
				t.Fatalf("SSE on node %d after %d events: %v", i, len(sse), err)
			}
			sse = append(sse, ev)
		}
		check(fmt.Sprintf("SSE on node %d", i), sse)
		check(fmt.Sprintf("long-poll on node %d", i), pollAll(t, c, n.URL, rooms, 0, total))
		got := d.until(fmt.Sprint("sio", i), marker.Offset)
		var sio []wireEvent
		for _, ev := range got {
			sio = append(sio, wireEvent{Offset: ev.Meta.Offset, Room: ev.Meta.Room})
		}
		byRoom := map[string][]uint64{}
		for _, ev := range sio {
			byRoom[ev.Room] = append(byRoom[ev.Room], ev.Offset)
		}
		for _, room := range rooms {
			var offs []uint64
			for _, ev := range want[room] {
				offs = append(offs, ev.Offset)
			}
			if !slices.Equal(byRoom[room], offs) {
				t.Fatalf("Socket.IO on node %d, room %s: %v, want %v", i, room, byRoom[room], offs)
			}
		}
	}
}

// TestClusterResumeHTTPOnAnotherNode: an SSE client resumes on node B
// with the Last-Event-ID node A gave it, and a long-poll client with the
// next A gave it, each receiving exactly what was published meanwhile (on
// A, at once before the resume: B may not have been delivered it yet).
func TestClusterResumeHTTPOnAnotherNode(t *testing.T) {
	nodes := startNodes(t, 2)
	a, b := nodes[0], nodes[1]
	c := newClient()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first := []wireEvent{
		mustPublish(t, c, a.URL, "res", "chat:message", []byte(`{"n":1}`)),
		mustPublish(t, c, a.URL, "res", "chat:message", []byte(`{"n":2}`)),
	}
	s, err := openSSE(ctx, newStreamClient(), a.URL+"/sse?room=res&after=0", "")
	if err != nil {
		t.Fatal(err)
	}
	expectSSE(t, s, first)
	s.close()
	p := pollAll(t, c, a.URL, []string{"res"}, 0, 2)
	var missed []wireEvent
	for i := range 3 {
		missed = append(missed, mustPublish(t, c, a.URL, "res", "chat:message", fmt.Appendf(nil, `{"missed":%d}`, i)))
	}
	s, err = openSSE(ctx, newStreamClient(), b.URL+"/sse?room=res", fmt.Sprint(first[1].Offset))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	expectSSE(t, s, missed)
	if got := pollAll(t, c, b.URL, []string{"res"}, p[len(p)-1].Offset, 3); diffEvents(got, missed) != "" {
		t.Fatalf("long-poll on B: %s", diffEvents(got, missed))
	}
}

// BenchmarkClusterLatency publishes one event at a time over HTTP and
// waits for it on an SSE stream of node A: published on node A ("local")
// or on node B ("cross"). It reports the p50 and p99 of
// publish-to-receive in microseconds (figures of a busy machine vary;
// nothing asserts on them).
func BenchmarkClusterLatency(b *testing.B) {
	nodes := startNodes(b, 2)
	c := newClient()
	for _, tc := range []struct {
		name string
		pub  string
	}{{"local", nodes[0].URL}, {"cross", nodes[1].URL}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			room := "lat-" + tc.name
			s, err := openSSE(ctx, newStreamClient(), nodes[0].URL+"/sse?room="+room, "")
			if err != nil {
				b.Fatal(err)
			}
			defer s.close()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				r, err := publish(c, tc.pub, room, "t", fmt.Appendf(nil, "%d", i))
				if err != nil || r.status != http.StatusCreated {
					b.Fatalf("publish: %d %v", r.status, err)
				}
				ev, err := s.nextEvent()
				if err != nil || ev.Offset != r.ev.Offset {
					b.Fatalf("SSE: %v %v, want offset %d", ev, err, r.ev.Offset)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// TestClusterPositionsFromAnotherNode: positions a client got from node B
// (a publish's offset) are honoured on node A at once, though A may not
// have been delivered the event yet: history after it is no reset and
// holds it, a Socket.IO join after it is recovered.
func TestClusterPositionsFromAnotherNode(t *testing.T) {
	nodes := startNodes(t, 2)
	a, b := nodes[0], nodes[1]
	c := newClient()
	d := startSIODriver(t)
	if r := d.connect("s", a.URL, "", false); r["ok"] != true {
		t.Fatalf("connect: %v", r)
	}
	for i := range 20 {
		room := fmt.Sprint("pos", i)
		ev := mustPublish(t, c, b.URL, room, "chat:message", []byte(`{}`))
		var p page
		u := fmt.Sprintf("%s/api/rooms/%s/events?after=%d", a.URL, room, ev.Offset-1)
		if st, body, err := getJSON(c, u, &p); err != nil || st != http.StatusOK || p.Reset != nil || len(p.Events) != 1 || p.Events[0].ID != ev.ID {
			t.Fatalf("GET %s: %d %s %v, want the event and no reset", u, st, body, err)
		}
		ack := d.emit("s", "room:join", map[string]any{"room": room, "after": ev.Offset})
		if ack["ok"] != true || ack["recovered"] != true || ack["reset"] != nil {
			t.Fatalf("join %s after %d on A: %v, want recovered", room, ev.Offset, ack)
		}
	}
}

// TestClusterPresenceOptIn: without --presence-events, a subscriber on
// node B that asked for the room's presence events (room:join presence:
// true) is told of a user's arrival on node A; one that did not ask is
// not.
func TestClusterPresenceOptIn(t *testing.T) {
	nodes := startNodes(t, 2, "--jwt-secret", testSecret)
	a, b := nodes[0], nodes[1]
	d := startSIODriver(t)
	for _, u := range []struct {
		name string
		ask  bool
	}{{"bob", true}, {"carl", false}} {
		d.connect(u.name, b.URL, presenceToken(t, u.name, true), false)
		join := map[string]any{"room": "general"}
		if u.ask {
			join["presence"] = true
		}
		if ack := d.emit(u.name, "room:join", join); ack["ok"] != true {
			t.Fatalf("%s's join: %v", u.name, ack)
		}
	}
	if typ, _ := nextPresence(t, d, "bob", "carl"); typ != "presence:join" {
		t.Fatalf("bob: %s, want carl's presence:join", typ)
	}
	d.connect("ada", a.URL, presenceToken(t, "ada", true), false)
	if ack := d.emit("ada", "room:join", map[string]any{"room": "general"}); ack["ok"] != true {
		t.Fatalf("ada's join: %v", ack)
	}
	if typ, n := nextPresence(t, d, "bob", "ada"); typ != "presence:join" || n != 3 {
		t.Fatalf("bob on B: %s %d, want ada's presence:join from A with 3 present", typ, n)
	}
	if st, body, _ := (cred{bearer: presenceToken(t, "ada", true)}).do(t, http.MethodPost, a.URL+"/api/rooms/general/events", `{"type":"chat:message","data":{}}`); st != http.StatusCreated {
		t.Fatalf("marker: %d %s", st, body)
	}
	if evs := d.WaitEvents("carl", 1); len(evs) != 1 || evs[0].Event != "chat:message" {
		t.Fatalf("carl, who did not ask, got %v before the marker", evs)
	}
}
