package jetstream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/storage/jetstream"
)

// node is one broker on its own connection to a shared stream, as one
// rtbroker process would be.
type node struct {
	log *jetstream.Log
	b   *broker.Broker
}

func startNodes(t *testing.T, n int, cfg broker.Config) []node {
	t.Helper()
	s := startServer(t)
	nodes := make([]node, n)
	for i := range nodes {
		l := mustOpen(t, connect(t, s), jetstream.Config{})
		b := broker.New(l, cfg)
		t.Cleanup(func() { _ = b.Close() })
		nodes[i] = node{log: l, b: b}
	}
	return nodes
}

// readAll reads n events (committed ones, and ephemeral ones when eph) of
// sub, failing the test after a generous timeout.
func readAll(t *testing.T, sub *broker.Subscription, n int) []*broker.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []*broker.Event
	for len(out) < n {
		evs, err := sub.Next(ctx, n-len(out))
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(out), n, err)
		}
		out = append(out, evs...)
	}
	return out
}

// TestFollowFansOutAcrossNodes: three brokers on one stream, publishers
// on every one of them at once, subscribers of two rooms on every one of
// them: each subscriber sees the same sequence, which is the log's (read
// back from the stream), with no gap and no duplicate, served from its
// node's in-memory tail (interleaved commits leave no hole there).
func TestFollowFansOutAcrossNodes(t *testing.T) {
	const perNode, pubs = 150, 3
	nodes := startNodes(t, 3, broker.Config{})
	rooms := []string{"r.a", "r.b"}
	var subs []*broker.Subscription
	for _, n := range nodes {
		for _, room := range rooms {
			sub, err := n.b.Subscribe(context.Background(), []string{room}, broker.Position{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(sub.Close)
			subs = append(subs, sub)
		}
	}
	var wg sync.WaitGroup
	for i, n := range nodes {
		for p := range pubs {
			wg.Go(func() {
				for k := range perNode / pubs {
					room := rooms[(k+p)%len(rooms)]
					data := json.RawMessage(fmt.Sprintf(`{"n":%d,"p":%d,"k":%d}`, i, p, k))
					if _, err := n.b.Publish(context.Background(), broker.Message{Room: room, Type: "t", Data: data}); err != nil {
						t.Error(err)
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
	ctx := context.Background()
	if _, err := nodes[0].log.LastOffset(ctx); err != nil { // reads up to the stream's last offset
		t.Fatal(err)
	}
	for i, room := range rooms {
		want, err := nodes[0].log.Read(ctx, []string{room}, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if len(want.Events) == 0 {
			t.Fatalf("room %s: nothing in the log", room)
		}
		for j := range nodes {
			got := readAll(t, subs[j*len(rooms)+i], len(want.Events))
			for k := range got {
				if got[k].Offset != want.Events[k].Offset || got[k].ID != want.Events[k].ID {
					t.Fatalf("node %d room %s event %d = %d %s, want %d %s", j, room, k, got[k].Offset, got[k].ID, want.Events[k].Offset, want.Events[k].ID)
				}
			}
			if evs, err := subs[j*len(rooms)+i].TryNext(ctx, 10); err != nil || len(evs) > 0 {
				t.Fatalf("node %d room %s: %d more events (%v)", j, room, len(evs), err)
			}
		}
	}
	total := 0
	for i, n := range nodes {
		st := n.b.Stats()
		total += int(st.Published)
		// Interleaved commits of other nodes never left a hole in a
		// tail: live subscribers were served from memory only.
		if st.ReadLog != 0 {
			t.Errorf("node %d: subscribers read %d events from the stream, want 0 (all from the tail)", i, st.ReadLog)
		}
	}
	if total != 3*pubs*(perNode/pubs) {
		t.Fatalf("published %d, want %d", total, 3*pubs*(perNode/pubs))
	}
}

// TestFollowPositionFromAnotherNode: a position a client got from another
// node (its publish was acknowledged there) is honoured here, not taken
// for a position beyond the head.
func TestFollowPositionFromAnotherNode(t *testing.T) {
	nodes := startNodes(t, 2, broker.Config{})
	ctx := context.Background()
	var last *broker.Event
	for i := range 5 {
		ev, err := nodes[1].b.Publish(ctx, broker.Message{Room: "x", Type: "t", Data: json.RawMessage(fmt.Sprint(i))})
		if err != nil {
			t.Fatal(err)
		}
		last = ev
	}
	// At once: node 0 may not have been delivered it yet.
	sub, err := nodes[0].b.Subscribe(ctx, []string{"x"}, broker.Position{Epoch: nodes[1].b.Epoch(), Offset: last.Offset - 1})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if sub.Reset() != nil {
		t.Fatalf("reset %v", sub.Reset())
	}
	if got := readAll(t, sub, 1); got[0].ID != last.ID {
		t.Fatalf("got %+v, want %+v", got[0], last)
	}
	if _, err := nodes[0].b.Subscribe(ctx, []string{"x"}, broker.Position{Offset: last.Offset + 100}); err != nil {
		t.Fatal(err)
	}
}

// TestRelayEphemeral: an ephemeral event published on one node reaches
// the subscribers of its room on the others once, and is not stored.
func TestRelayEphemeral(t *testing.T) {
	nodes := startNodes(t, 3, broker.Config{})
	ctx := context.Background()
	var subs []*broker.Subscription
	for _, n := range nodes {
		sub, err := n.b.Subscribe(ctx, []string{"typing"}, broker.Position{})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		subs = append(subs, sub)
	}
	// The relay's subscriptions start with the brokers; wait until an
	// event goes through before counting.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := nodes[1].b.PublishEphemeral(broker.Message{Room: "typing", Type: "typing:start", Data: json.RawMessage(`{"probe":true}`), From: "ada"}); err != nil {
			t.Fatal(err)
		}
		c, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		evs0, err0 := subs[0].Next(c, 100)
		cancel()
		if err0 == nil && len(evs0) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no ephemeral event crossed nodes within 30s")
		}
	}
	for _, sub := range subs { // drop the probes
		for {
			c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			_, err := sub.Next(c, 100)
			cancel()
			if err != nil {
				break
			}
		}
	}
	ev, err := nodes[2].b.PublishEphemeral(broker.Message{Room: "typing", Type: "typing:start", Data: json.RawMessage(`{"x":1}`), From: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	for i, sub := range subs {
		got := readAll(t, sub, 1)
		if got[0].ID != ev.ID || got[0].Offset != 0 || got[0].From != "bob" || string(got[0].Data) != `{"x":1}` || got[0].Type != "typing:start" {
			t.Fatalf("node %d got %+v, want %+v", i, got[0], ev)
		}
		c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		if evs, err := sub.Next(c, 10); err == nil {
			t.Fatalf("node %d: a second delivery %+v", i, evs)
		}
		cancel()
	}
	if h := nodes[0].b.Head().Offset; h != 0 {
		t.Fatalf("head %d: an ephemeral event was stored", h)
	}
}

// TestTrimSeenByOtherNodes: a trim made by one node is reported by the
// Reads of another, which learns the watermark while it follows.
func TestTrimSeenByOtherNodes(t *testing.T) {
	nodes := startNodes(t, 2, broker.Config{})
	ctx := context.Background()
	for i := range 5 {
		if _, err := nodes[0].b.Publish(ctx, broker.Message{Room: "t", Type: "t", Data: json.RawMessage(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := nodes[0].b.Trim(ctx, broker.Retention{MaxCount: 2}); err != nil || n != 3 {
		t.Fatalf("trim = %d, %v", n, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := nodes[1].log.Read(ctx, []string{"t"}, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if res.Trimmed == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 1 reads %+v: never learned the watermark 3", res)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFollowSurvivesServerRestart: the NATS server restarts (same port,
// same store) under two nodes: once their connections are back, events
// published on one reach the other's subscriber again, in order, with
// nothing lost from before.
func TestFollowSurvivesServerRestart(t *testing.T) {
	dir, port := t.TempDir(), freePort(t)
	start := func() *server.Server {
		s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats-server not ready")
		}
		return s
	}
	s := start()
	var nodes []node
	for range 2 {
		nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		l := mustOpen(t, nc, jetstream.Config{})
		b := broker.New(l, broker.Config{})
		t.Cleanup(func() { _ = b.Close() })
		nodes = append(nodes, node{log: l, b: b})
	}
	ctx := context.Background()
	sub, err := nodes[0].b.Subscribe(ctx, []string{"x"}, broker.Position{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	pub := func(i int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := nodes[1].b.Publish(ctx, broker.Message{Room: "x", Type: "t", Data: json.RawMessage(fmt.Sprint(i))})
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %d: %v", i, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i := range 3 {
		pub(i)
	}
	before := readAll(t, sub, 3)
	s.Shutdown()
	s.WaitForShutdown()
	s = start()
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	for i := 3; i < 6; i++ {
		pub(i)
	}
	after := readAll(t, sub, 3)
	for i, ev := range append(before, after...) {
		if ev.Offset != uint64(i+1) || string(ev.Data) != fmt.Sprint(i) {
			t.Fatalf("event %d = offset %d data %s", i, ev.Offset, ev.Data)
		}
	}
}
