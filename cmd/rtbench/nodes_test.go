package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
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
