package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestNodeOf checks that each room's subscribers are spread round-robin
// over the nodes, and all subscribers evenly.
func TestNodeOf(t *testing.T) {
	tests := []struct {
		name         string
		subs, rooms  int
		nodes        int
		perNode      []int // subscribers per node
		roomsOnNodes int   // nodes each room has subscribers on
	}{
		{name: "one node", subs: 10, rooms: 2, nodes: 1, perNode: []int{10}, roomsOnNodes: 1},
		{name: "one room, three nodes", subs: 3000, rooms: 1, nodes: 3, perNode: []int{1000, 1000, 1000}, roomsOnNodes: 3},
		{name: "rooms as many as nodes", subs: 9, rooms: 3, nodes: 3, perNode: []int{3, 3, 3}, roomsOnNodes: 3},
		{name: "two nodes, two rooms", subs: 8, rooms: 2, nodes: 2, perNode: []int{4, 4}, roomsOnNodes: 2},
		{name: "more nodes than a room's subscribers", subs: 4, rooms: 2, nodes: 3, perNode: []int{2, 2, 0}, roomsOnNodes: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			per := make([]int, tc.nodes)
			on := make([]map[int]bool, tc.rooms)
			for r := range on {
				on[r] = map[int]bool{}
			}
			for i := range tc.subs {
				n := nodeOf(i, tc.rooms, tc.nodes)
				per[n]++
				on[i%tc.rooms][n] = true
			}
			if !slices.Equal(per, tc.perNode) {
				t.Errorf("subscribers per node %v, want %v", per, tc.perNode)
			}
			for r, nodes := range on {
				if len(nodes) != tc.roomsOnNodes {
					t.Errorf("room %d has subscribers on %d nodes, want %d", r, len(nodes), tc.roomsOnNodes)
				}
			}
		})
	}
}

// TestClusterURLs checks --url and --pub-url lists.
func TestClusterURLs(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		urls, pub []string
		err       string
	}{
		{name: "one node", args: []string{"--url", "http://127.0.0.1:8080/"},
			urls: []string{"http://127.0.0.1:8080"}, pub: []string{"http://127.0.0.1:8080"}},
		{name: "three nodes, publishers on all", args: []string{"--url", "http://a:1, http://b:2/,http://c:3"},
			urls: []string{"http://a:1", "http://b:2", "http://c:3"}, pub: []string{"http://a:1", "http://b:2", "http://c:3"}},
		{name: "publishers on one", args: []string{"--url", "http://a:1,http://b:2", "--pub-url", "http://b:2"},
			urls: []string{"http://a:1", "http://b:2"}, pub: []string{"http://b:2"}},
		{name: "an empty entry", args: []string{"--url", "http://a:1,"}, err: `--url "": want http://host:port`},
		{name: "not http", args: []string{"--url", "http://a:1,ws://b:2"}, err: `--url "ws://b:2"`},
		{name: "bad pub-url", args: []string{"--pub-url", "b:2"}, err: `--pub-url "b:2"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			c, err := parseConfig(append([]string{"latency"}, tc.args...), &out)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.URLs, tc.urls) || !slices.Equal(c.PubURLs, tc.pub) || c.URL != tc.urls[0] {
				t.Errorf("urls %q, pub %q, url %q; want %q, %q", c.URLs, c.PubURLs, c.URL, tc.urls, tc.pub)
			}
		})
	}
}

// TestPublisherSpreadsOverNodes checks that the publisher's connections
// go round-robin over its nodes: with 6 connections on 3 nodes, each node
// gets publishes.
func TestPublisherSpreadsOverNodes(t *testing.T) {
	var bases []string
	var got [3]atomic.Int64
	for i := range got {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/api/rooms/") {
				http.Error(w, `{"code":"not_found","message":"not found"}`, http.StatusNotFound)
				return
			}
			got[i].Add(1)
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"offset":1}`))
		}))
		t.Cleanup(srv.Close)
		bases = append(bases, srv.URL)
	}
	p := newPublisher("http", bases, []string{"r"}, 64, 1, 6, 5*time.Second)
	p.publishN(t.Context(), 60)
	if p.errors.Load() != 0 || p.published() != 60 {
		t.Fatalf("published %d, errors %d: %q", p.published(), p.errors.Load(), p.errorSamples())
	}
	for i := range got {
		if got[i].Load() == 0 {
			t.Errorf("node %d got no publish (per node: %d %d %d)", i, got[0].Load(), got[1].Load(), got[2].Load())
		}
	}
}

// TestClusterRun runs rtbench against three rtbroker nodes with NATS
// embedded (a JetStream cluster, R3): subscribers spread over the three,
// events published on the first; every subscriber gets every event, each
// node had its share of the subscribers, and only the first took
// publishes.
func TestClusterRun(t *testing.T) {
	var peers []string
	for range 3 {
		peers = append(peers, fmt.Sprintf("nats://127.0.0.1:%d", freePort(t)))
	}
	nodes := make([]*server, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range nodes {
		// The nodes wait for each other (a JetStream meta leader) before
		// they listen: start them together.
		wg.Go(func() {
			nodes[i], errs[i] = launch(t.TempDir(), "127.0.0.1:0", "--store", "jetstream",
				"--nats-name", fmt.Sprintf("node%d", i+1), "--cluster-name", "rtbench",
				"--nats-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
				"--cluster-listen", strings.TrimPrefix(peers[i], "nats://"), "--cluster-peers", strings.Join(peers, ","))
		})
	}
	wg.Wait()
	var urls []string
	for i, n := range nodes {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i+1, errs[i])
		}
		t.Cleanup(n.kill)
		urls = append(urls, n.url())
	}
	for _, u := range urls {
		waitReady(t, u)
	}
	code, r, out := runTool(t, "latency", "--subs", "6", "--rate", "20", "--warmup", "300ms", "--duration", "1s",
		"--url", strings.Join(urls, ","), "--pub-url", urls[0])
	mustPass(t, code, r, out)
	if r.Published == 0 || r.Delivered != r.Published*6 {
		t.Fatalf("published %d, delivered %d, want 6 × published\n%s", r.Published, r.Delivered, out)
	}
	for i, u := range urls {
		if joins := metric(t, u, "rtbroker_room_joins_total"); joins != 2 {
			t.Errorf("node %d: %g room joins, want 2 (6 subscribers over 3 nodes)", i+1, joins)
		}
		pub := metric(t, u, "rtbroker_events_published_total")
		if (i == 0) != (pub > 0) {
			t.Errorf("node %d: %g events published (--pub-url is node 1)", i+1, pub)
		}
	}
}

// freePort returns a TCP port free on loopback now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitReady waits (up to a minute) for base's /readyz to answer 200.
func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %v", base, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metric sums the samples of a metric family on base's /metrics.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", name, line, err)
			}
			sum += v
		}
	}
	return sum
}

// TestBehindByNodeMerge checks that the events missed per node add up
// across the processes of a run.
func TestBehindByNodeMerge(t *testing.T) {
	s := &fleetStats{}
	s.merge(&fleetStats{Behind: 3, BehindClients: 2, BehindByNode: map[string]uint64{"http://a:1": 1, "http://b:2": 2}})
	s.merge(&fleetStats{})
	s.merge(&fleetStats{Behind: 4, BehindClients: 1, BehindByNode: map[string]uint64{"http://b:2": 4}})
	want := map[string]uint64{"http://a:1": 1, "http://b:2": 6}
	if s.Behind != 7 || s.BehindClients != 3 || len(s.BehindByNode) != 2 ||
		s.BehindByNode["http://a:1"] != want["http://a:1"] || s.BehindByNode["http://b:2"] != want["http://b:2"] {
		t.Fatalf("merged %d behind, %d clients, by node %v; want 7, 3, %v", s.Behind, s.BehindClients, s.BehindByNode, want)
	}
}

// TestDeliverCountsSkippedOffsets checks that a client counts the offsets
// it jumped over (and not repeats) after its first event.
func TestDeliverCountsSkippedOffsets(t *testing.T) {
	c := &client{f: &fleet{}}
	for _, off := range []uint64{5, 6, 8, 8, 11, 12} {
		c.deliver(off, 0, 0)
	}
	if got, dup, n := c.skipped.Load(), c.dup.Load(), c.received.Load(); got != 3 || dup != 1 || n != 5 {
		t.Fatalf("skipped %d, duplicates %d, received %d; want 3, 1, 5", got, dup, n)
	}
}
