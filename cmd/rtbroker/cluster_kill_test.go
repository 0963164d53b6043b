package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtbroker/rtbroker/gateways/socketio/socketiotest"
)

// Cluster tests: three rtbroker processes on one JetStream cluster (three
// nats-server processes, or NATS embedded in the rtbroker processes)
// behind HAProxy, with clients of every transport going through HAProxy,
// while one process is killed with SIGKILL. Every check reads the log
// back over the public API.

// clusterRooms are the rooms every client of a cluster test follows.
var clusterRooms = []string{"cl-a", "cl-b", "cl-c"}

// clusterLoad is the traffic of a cluster test: publishers and
// subscribers of every transport, all through the load balancer.
type clusterLoad struct {
	lb string

	mu    sync.Mutex
	acked map[string]wireEvent // by Idempotency-Key: every publish answered 201

	retries atomic.Int64 // publishes retried (an error or a status other than 201)
}

// publishRetry publishes to room with key until it is answered 201 or
// ctx ends; the same key makes a retry of a publish that was committed
// return the first result.
func (l *clusterLoad) publishRetry(ctx context.Context, c *http.Client, room, typ, key string) (wireEvent, error) {
	data := fmt.Appendf(nil, `{"key":%q}`, key)
	for {
		res, err := publish(c, l.lb, room, typ, data, "Idempotency-Key", key)
		if err == nil && res.status == http.StatusCreated {
			return res.ev, nil
		}
		l.retries.Add(1)
		if ctx.Err() != nil {
			return wireEvent{}, fmt.Errorf("publish %s to %s: %v (status %d, %s)", key, room, err, res.status, res.body)
		}
		ctxSleep(ctx, 100*time.Millisecond)
	}
}

// publisher publishes "chat" events round the rooms until stop is closed.
func (l *clusterLoad) publisher(ctx context.Context, id int, stop <-chan struct{}) error {
	c := &http.Client{Timeout: 15 * time.Second}
	defer c.CloseIdleConnections()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return nil
		default:
		}
		key := fmt.Sprintf("p%d-%d", id, n)
		ev, err := l.publishRetry(ctx, c, clusterRooms[(id+n)%len(clusterRooms)], "chat", key)
		if err != nil {
			return err
		}
		l.mu.Lock()
		l.acked[key] = ev
		l.mu.Unlock()
		ctxSleep(ctx, 20*time.Millisecond)
	}
}

// clusterReader is an SSE or long-poll subscriber of a cluster test: it
// follows every room through the load balancer until it has the "end"
// event of each, reconnecting (SSE with Last-Event-ID, long-poll with
// after) whenever its connection fails.
type clusterReader struct {
	name   string
	got    []wireEvent
	drops  int // connections that failed and were made again
	opened chan struct{}
}

func (r *clusterReader) done() bool {
	ends := 0
	for _, ev := range r.got {
		if ev.Type == "end" {
			ends++
		}
	}
	return ends == len(clusterRooms)
}

// runSSE reads /sse. The first stream starts live (the log is empty).
func (r *clusterReader) runSSE(ctx context.Context, lb string) error {
	c := newStreamClient()
	defer c.CloseIdleConnections()
	u := lb + "/sse?" + url.Values{"room": clusterRooms}.Encode()
	last := ""
	var once sync.Once
	for !r.done() {
		st, err := openSSE(ctx, c, u, last)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w (last error %v)", r.name, ctx.Err(), err)
			}
			r.drops++
			ctxSleep(ctx, 200*time.Millisecond)
			continue
		}
		once.Do(func() { close(r.opened) })
		for !r.done() {
			ev, err := st.nextEvent()
			if err != nil {
				r.drops++
				break
			}
			r.got = append(r.got, ev)
			last = strconv.FormatUint(ev.Offset, 10)
		}
		st.close()
	}
	return nil
}

// runPoll reads /poll from after=0.
func (r *clusterReader) runPoll(ctx context.Context, lb string) error {
	c := &http.Client{Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	close(r.opened)
	var after uint64
	for !r.done() {
		p, err := poll(c, lb, clusterRooms, after, "&timeout=5s")
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w (last error %v)", r.name, ctx.Err(), err)
			}
			r.drops++
			ctxSleep(ctx, 200*time.Millisecond)
			continue
		}
		r.got = append(r.got, p.Events...)
		after = p.Next
	}
	return nil
}

// sioReport is what testdata/cluster-sio.mjs prints at the end.
type sioReport struct {
	Sockets []struct {
		Events []struct {
			Event  string `json:"event"`
			Room   string `json:"room"`
			Offset uint64 `json:"offset"`
			ID     string `json:"id"`
		} `json:"events"`
		Connects []struct {
			SID       string `json:"sid"`
			Recovered bool   `json:"recovered"`
			Transport string `json:"transport"`
		} `json:"connects"`
	} `json:"sockets"`
}

// sioClients runs testdata/cluster-sio.mjs: count socket.io-client
// sockets through lb, the last polling of them on Engine.IO long-polling
// (kept on one node by the balancer's cookie), the others on WebSocket.
// It returns once they have joined; report waits for the final report.
func sioClients(t *testing.T, ctx context.Context, lb string, count, polling int) (report func() sioReport) {
	t.Helper()
	node, _ := socketiotest.NeedNode(t)
	cmd := exec.CommandContext(ctx, node, "testdata/cluster-sio.mjs", lb, strconv.Itoa(count), strings.Join(clusterRooms, ","), strconv.Itoa(polling))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan map[string]json.RawMessage, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 256<<20)
		for sc.Scan() {
			var m map[string]json.RawMessage
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				m = map[string]json.RawMessage{"phase": json.RawMessage(`"garbage"`), "line": json.RawMessage(strconv.Quote(sc.Text()))}
			}
			lines <- m
		}
	}()
	next := func(want string) map[string]json.RawMessage {
		t.Helper()
		for {
			select {
			case m, ok := <-lines:
				if !ok {
					t.Fatalf("cluster-sio.mjs exited before %q; stderr:\n%s", want, logs.String())
				}
				var phase string
				json.Unmarshal(m["phase"], &phase)
				if phase == want {
					return m
				}
				t.Logf("socket.io clients: %s", mustJSON(m))
			case <-ctx.Done():
				t.Fatalf("socket.io clients: no %q before the test's deadline; stderr:\n%s", want, logs.String())
			}
		}
	}
	next("ready")
	return func() sioReport {
		t.Helper()
		m := next("report")
		var r sioReport
		if err := json.Unmarshal(m["sockets"], &r.Sockets); err != nil {
			t.Fatalf("socket.io report: %v", err)
		}
		return r
	}
}

// clusterScenario runs the traffic of a cluster test through lb: six
// Socket.IO sockets (four on WebSocket, two on long-polling kept on a node
// by HAProxy's cookie), four SSE streams and four long-pollers following
// every room, four publishers; kill runs two seconds in, and the
// publishers go on for four more, until at least 40 publishes were
// acknowledged after it. Then an "end" event is published to
// each room and every client must have received exactly the log, read
// back from readBase() afterwards: every acknowledged event at the offset
// it was acknowledged with, none twice, nothing missing. It returns the
// Socket.IO report for the caller's checks.
func clusterScenario(t *testing.T, lb string, readBase func() string, kill func()) sioReport {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	load := &clusterLoad{lb: lb, acked: map[string]wireEvent{}}
	report := sioClients(t, ctx, lb, 6, 2)

	var readers []*clusterReader
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 8 {
		r := &clusterReader{name: fmt.Sprintf("sse%d", i), opened: make(chan struct{})}
		run := r.runSSE
		if i%2 == 1 {
			r.name = fmt.Sprintf("poll%d", i)
			run = r.runPoll
		}
		readers = append(readers, r)
		wg.Go(func() {
			if err := run(ctx, lb); err != nil {
				errs <- err
			}
		})
	}
	for _, r := range readers {
		select {
		case <-r.opened:
		case <-ctx.Done():
			t.Fatalf("%s did not connect", r.name)
		}
	}

	stop := make(chan struct{})
	var pubs sync.WaitGroup
	for i := range 4 {
		pubs.Go(func() {
			if err := load.publisher(ctx, i, stop); err != nil {
				errs <- err
			}
		})
	}
	time.Sleep(2 * time.Second)
	kill()
	acked := func() int {
		load.mu.Lock()
		defer load.mu.Unlock()
		return len(load.acked)
	}
	// Publishing goes on: at least 40 more publishes acknowledged (and
	// four seconds of them), however long a new leader takes.
	atKill := acked()
	time.Sleep(4 * time.Second)
	for acked()-atKill < 40 {
		if ctx.Err() != nil {
			t.Fatalf("publishing did not go on after the kill: %d publishes acknowledged since", acked()-atKill)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	pubs.Wait()
	c := &http.Client{Timeout: 15 * time.Second}
	for i, room := range clusterRooms {
		if _, err := load.publishRetry(ctx, c, room, "end", fmt.Sprintf("end-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Every reader has the "end" events soon after they are published.
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(time.Minute):
		cancel()
		<-waited
		for _, r := range readers {
			t.Logf("%s has %d events, done %v, %d reconnections", r.name, len(r.got), r.done(), r.drops)
		}
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	rep := report()
	for i, s := range rep.Sockets {
		want := "websocket"
		if i >= len(rep.Sockets)-2 {
			want = "polling" // through HAProxy's sticky cookie
		}
		for _, c := range s.Connects {
			if c.Transport != want {
				t.Errorf("socket.io socket %d connected over %q, want %s", i, c.Transport, want)
			}
		}
	}

	// The log, read back: every acknowledged event where it was
	// acknowledged, each publish once.
	base := readBase()
	want := map[string][]wireEvent{}
	byKey := map[string]wireEvent{}
	for _, room := range clusterRooms {
		want[room] = readRoom(t, c, base, room)
		for _, ev := range want[room] {
			var d struct{ Key string }
			json.Unmarshal(ev.Data, &d)
			if prev, dup := byKey[d.Key]; dup {
				t.Errorf("publish %s is in the log twice: %s and %s", d.Key, prev, ev)
			}
			byKey[d.Key] = ev
		}
	}
	load.mu.Lock()
	defer load.mu.Unlock()
	for key, ack := range load.acked {
		if got, ok := byKey[key]; !ok || !got.same(ack) {
			t.Errorf("acknowledged %s = %s, the log has %s (present %v)", key, ack, got, ok)
		}
	}
	t.Logf("%d events acknowledged, %d publishes retried, log heads %v", len(load.acked), load.retries.Load(), heads(want))

	for _, r := range readers {
		t.Logf("%s: %d events, %d reconnections", r.name, len(r.got), r.drops)
		for _, room := range clusterRooms {
			if d := diffEvents(eventsOfRoom(r.got, room), want[room]); d != "" {
				t.Errorf("%s, room %s: %s", r.name, room, d)
			}
		}
	}
	for i, s := range rep.Sockets {
		for _, room := range clusterRooms {
			var got []string
			for _, e := range s.Events {
				if e.Room == room {
					got = append(got, fmt.Sprintf("%d/%s", e.Offset, e.ID))
				}
			}
			var w []string
			for _, e := range want[room] {
				w = append(w, fmt.Sprintf("%d/%s", e.Offset, e.ID))
			}
			if !slices.Equal(got, w) {
				t.Errorf("socket.io socket %d, room %s: got %d events %v, want %d %v", i, room, len(got), got, len(w), w)
			}
		}
	}
	return rep
}

// eventsOfRoom returns the events of room in evs.
func eventsOfRoom(evs []wireEvent, room string) []wireEvent {
	var out []wireEvent
	for _, ev := range evs {
		if ev.Room == room {
			out = append(out, ev)
		}
	}
	return out
}

func heads(m map[string][]wireEvent) []uint64 {
	var out []uint64
	for _, room := range clusterRooms {
		if evs := m[room]; len(evs) > 0 {
			out = append(out, evs[len(evs)-1].Offset)
		}
	}
	return out
}

// checkRecovered: every Socket.IO reconnection recovered its session (the
// server it came back to restored its rooms and sent what it missed),
// and at least min sockets reconnected.
func checkRecovered(t *testing.T, rep sioReport, min int, nodes []*rtbNode, dead map[int]bool) {
	t.Helper()
	reconnected, refused := 0, false
	for i, s := range rep.Sockets {
		if len(s.Connects) > 1 {
			reconnected++
		}
		for j, c := range s.Connects[1:] {
			if !c.Recovered {
				refused = true
				t.Errorf("socket.io socket %d: reconnection %d not recovered (recovered === false)", i, j+1)
			}
		}
	}
	if refused { // why, as each live node counted it
		c := &http.Client{Timeout: 5 * time.Second}
		for i, n := range nodes {
			if !dead[i] {
				t.Logf("%s: %s", n.name, metricLines(c, n.url, "rtbroker_socketio_recoveries_total"))
			}
		}
	}
	t.Logf("%d of %d socket.io sockets reconnected", reconnected, len(rep.Sockets))
	if reconnected < min {
		t.Errorf("%d socket.io sockets reconnected, want at least %d (were any on the killed node?)", reconnected, min)
	}
}

// busiestNode returns the index of the live node with the most Socket.IO
// sockets (then SSE streams), so that killing it drops clients.
func busiestNode(t *testing.T, nodes []*rtbNode, dead map[int]bool) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	best, bestScore := -1, -1.0
	for i, n := range nodes {
		if dead[i] {
			continue
		}
		sio, err1 := metric(c, n.url, "rtbroker_socketio_sockets")
		sse, err2 := metric(c, n.url, "rtbroker_sse_streams")
		if err := errors.Join(err1, err2); err != nil {
			t.Fatalf("%s metrics: %v", n.name, err)
		}
		t.Logf("%s: %v socket.io sockets, %v SSE streams", n.name, sio, sse)
		if score := sio*100 + sse; score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// liveBase returns the URL of a node not in dead.
func liveBase(nodes []*rtbNode, dead map[int]bool) func() string {
	return func() string {
		for i, n := range nodes {
			if !dead[i] {
				return n.url
			}
		}
		return ""
	}
}

// TestClusterRTBrokerNodeKilled (issue 14, a): three rtbroker processes on
// a three-node NATS cluster (R3) behind HAProxy; the one with the most
// clients is killed with SIGKILL while events are published. Its clients
// reconnect through HAProxy to the other two and recover: Socket.IO with
// recovered === true, SSE by Last-Event-ID, long-poll by after; nothing
// lost or duplicated.
func TestClusterRTBrokerNodeKilled(t *testing.T) {
	nc := startNATSProcesses(t)
	nodes := startRTBNodes(t, externalClusterArgs(t, nc))
	lb := startHAProxy(t, nodes)
	dead := map[int]bool{}
	rep := clusterScenario(t, lb, liveBase(nodes, dead), func() {
		i := busiestNode(t, nodes, dead)
		t.Logf("SIGKILL %s", nodes[i].name)
		nodes[i].kill()
		dead[i] = true
	})
	checkRecovered(t, rep, 1, nodes, dead)
}

// TestClusterNATSNodeKilled (issue 14, b): the same cluster; the NATS
// server leading the stream is killed with SIGKILL. No acknowledged event
// is lost, publishing continues (on the new leader), every client
// receives the log exactly.
func TestClusterNATSNodeKilled(t *testing.T) {
	nc := startNATSProcesses(t)
	nodes := startRTBNodes(t, externalClusterArgs(t, nc))
	lb := startHAProxy(t, nodes)
	rep := clusterScenario(t, lb, liveBase(nodes, nil), func() {
		leader := streamLeader(t, nc.urls)
		for _, p := range nc.procs {
			if p.name == leader {
				t.Logf("SIGKILL %s (the stream's leader)", p.name)
				p.kill()
				return
			}
		}
		t.Fatalf("stream leader %q is none of the NATS servers", leader)
	})
	checkRecovered(t, rep, 0, nodes, nil)
}

// streamLeader returns the name of the NATS server leading the stream.
func streamLeader(t *testing.T, urls []string) string {
	t.Helper()
	conn, err := nats.Connect(strings.Join(urls, ","), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	js, err := jetstream.New(conn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "RTBROKER")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("stream info: %v %+v", err, info)
	}
	if info.Config.Replicas != 3 {
		t.Errorf("stream replicas %d, want 3 (the default in a cluster)", info.Config.Replicas)
	}
	return info.Cluster.Leader
}

// TestClusterEmbedded (issue 14, c): three rtbroker processes that form
// the JetStream cluster themselves (--cluster-listen, --cluster-peers;
// nothing else deployed) behind HAProxy; the one with the most clients is
// killed with SIGKILL — an rtbroker node and a NATS node at once. The
// same checks as TestClusterRTBrokerNodeKilled.
func TestClusterEmbedded(t *testing.T) {
	nodes := startRTBNodes(t, embeddedClusterArgs(t))
	lb := startHAProxy(t, nodes)
	dead := map[int]bool{}
	rep := clusterScenario(t, lb, liveBase(nodes, dead), func() {
		i := busiestNode(t, nodes, dead)
		t.Logf("SIGKILL %s", nodes[i].name)
		nodes[i].kill()
		dead[i] = true
	})
	checkRecovered(t, rep, 1, nodes, dead)
}
