package presence_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/presence"
)

func user(sub string) auth.Identity { return auth.Identity{Subject: sub, Rooms: new(auth.All())} }

var anon = auth.Identity{Subject: auth.AnonymousPrefix + "x", Anonymous: true}

// watcher is a subscriber of a room that reads its presence events.
type watcher struct {
	t   *testing.T
	sub *broker.Subscription
}

func watch(t *testing.T, b *broker.Broker, room string) *watcher {
	t.Helper()
	sub, err := b.Subscribe(context.Background(), []string{room}, b.Head())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	return &watcher{t: t, sub: sub}
}

// next returns the next event as "type user count".
func (w *watcher) next() string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs, err := w.sub.Next(ctx, 1)
	if err != nil {
		w.t.Fatalf("no event: %v", err)
	}
	var d struct {
		User  string `json:"user"`
		Count int    `json:"count"`
	}
	if err := json.Unmarshal(evs[0].Data, &d); err != nil {
		w.t.Fatal(err)
	}
	if evs[0].Offset != 0 || evs[0].From != d.User {
		w.t.Fatalf("event %+v: want ephemeral, from its user", evs[0])
	}
	return fmt.Sprintf("%s %s %d", evs[0].Type, d.User, d.Count)
}

// none checks that no event is pending.
func (w *watcher) none() {
	w.t.Helper()
	if evs, err := w.sub.TryNext(context.Background(), 10); err != nil || len(evs) > 0 {
		w.t.Fatalf("unexpected events %v (err %v)", evs, err)
	}
}

func newRegistry(t *testing.T, cfg presence.Config) (*broker.Broker, *presence.Registry) {
	t.Helper()
	b, _ := brokertest.NewBroker(t, broker.Config{})
	r := presence.New(b, cfg)
	t.Cleanup(r.Close)
	return b, r
}

// TestJoinLeave: the first connection of a user announces a join, the
// last one a leave, each with the count of users; connections over
// several transports make one member.
func TestJoinLeave(t *testing.T) {
	b, r := newRegistry(t, presence.Config{Events: true})
	w := watch(t, b, "lobby")

	ada1 := r.Enter("lobby", user("ada"), presence.SocketIO)
	if got := w.next(); got != "presence:join ada 1" {
		t.Fatalf("got %q", got)
	}
	ada2 := r.Enter("lobby", user("ada"), presence.SSE)
	w.none()
	bob := r.Enter("lobby", user("bob"), presence.LongPoll)
	if got := w.next(); got != "presence:join bob 2" {
		t.Fatalf("got %q", got)
	}
	snap := r.Snapshot("lobby")
	if snap.Count != 2 || !snap.Listed || len(snap.Members) != 2 {
		t.Fatalf("snapshot %+v", snap)
	}
	if m := snap.Members[0]; m.User != "ada" || m.Connections != 2 || fmt.Sprint(m.Transports) != "[socket.io sse]" || m.Since.IsZero() {
		t.Fatalf("ada: %+v", m)
	}
	ada1.Leave()
	ada1.Leave() // counts once
	w.none()
	ada2.Leave()
	if got := w.next(); got != "presence:leave ada 1" {
		t.Fatalf("got %q", got)
	}
	bob.Leave()
	if got := w.next(); got != "presence:leave bob 0" {
		t.Fatalf("got %q", got)
	}
	if snap := r.Snapshot("lobby"); snap.Count != 0 || len(snap.Members) != 0 {
		t.Fatalf("snapshot after: %+v", snap)
	}
}

// TestAnonymousCountedOnly: anonymous connections are counted, never
// listed, and announce nothing.
func TestAnonymousCountedOnly(t *testing.T) {
	b, r := newRegistry(t, presence.Config{Events: true})
	w := watch(t, b, "lobby")
	c1 := r.Enter("lobby", anon, presence.SSE)
	c2 := r.Enter("lobby", anon, presence.SocketIO)
	w.none()
	if snap := r.Snapshot("lobby"); snap.Anonymous != 2 || snap.Count != 0 || len(snap.Members) != 0 {
		t.Fatalf("snapshot %+v", snap)
	}
	c1.Leave()
	c2.Leave()
	w.none()
	if snap := r.Snapshot("lobby"); snap.Anonymous != 0 {
		t.Fatalf("snapshot after %+v", snap)
	}
}

// TestCountsOnlyAboveMaxList: above MaxList users the snapshot holds
// counts and no list; the events are the same size either way.
func TestCountsOnlyAboveMaxList(t *testing.T) {
	for _, tc := range []struct {
		name   string
		users  int
		listed bool
	}{
		{name: "at the limit", users: 3, listed: true},
		{name: "above it", users: 4, listed: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r := newRegistry(t, presence.Config{Events: true, MaxList: 3})
			for i := range tc.users {
				r.Enter("big", user(fmt.Sprint("u", i)), presence.SSE)
			}
			snap := r.Snapshot("big")
			if snap.Count != tc.users || snap.Listed != tc.listed || (len(snap.Members) == tc.users) != tc.listed {
				t.Fatalf("snapshot %+v", snap)
			}
		})
	}
}

// TestPollGrace: a long-poll client is present from its first poll,
// stays while polls keep coming, and leaves PollGrace after its last one
// ended.
func TestPollGrace(t *testing.T) {
	b, r := newRegistry(t, presence.Config{Events: true, PollGrace: 50 * time.Millisecond})
	w := watch(t, b, "lobby")
	key := presence.PollClient(user("ada"), "127.0.0.1")
	done := r.Poll(key, []string{"lobby"}, user("ada"))
	if got := w.next(); got != "presence:join ada 1" {
		t.Fatalf("got %q", got)
	}
	// A poll held longer than the grace keeps the client present.
	time.Sleep(150 * time.Millisecond)
	w.none()
	done2 := r.Poll(key, []string{"lobby"}, user("ada")) // the next poll, same client
	done()
	w.none()
	done2()
	if got := w.next(); got != "presence:leave ada 0" {
		t.Fatalf("got %q", got)
	}
	if snap := r.Snapshot("lobby"); snap.Count != 0 {
		t.Fatalf("snapshot %+v", snap)
	}
}

// TestCloseLeavesPollers: Close ends the long-poll clients' presence at
// once, announcing it, and records nothing afterwards.
func TestCloseLeavesPollers(t *testing.T) {
	b, r := newRegistry(t, presence.Config{Events: true, PollGrace: time.Hour})
	w := watch(t, b, "lobby")
	r.Poll("sub:ada", []string{"lobby"}, user("ada"))()
	if got := w.next(); got != "presence:join ada 1" {
		t.Fatalf("got %q", got)
	}
	r.Close()
	if got := w.next(); got != "presence:leave ada 0" {
		t.Fatalf("got %q", got)
	}
	r.Enter("lobby", user("bob"), presence.SSE)
	w.none()
	if snap := r.Snapshot("lobby"); snap.Count != 0 {
		t.Fatalf("after Close: %+v", snap)
	}
}

// TestClientsCannotForge: presence events are reserved types.
func TestClientsCannotForge(t *testing.T) {
	b, _ := newRegistry(t, presence.Config{Events: true})
	for _, typ := range []string{presence.JoinEvent, presence.LeaveEvent, "room:presence"} {
		if _, err := b.PublishEphemeral(broker.Message{Room: "lobby", Type: typ, Data: []byte(`{}`)}); err == nil {
			t.Errorf("%s: published", typ)
		}
	}
}

func TestNilRegistry(t *testing.T) {
	var r *presence.Registry
	r.Enter("lobby", user("ada"), presence.SSE).Leave()
	r.EnterAll([]string{"lobby"}, user("ada"), presence.SSE)()
	r.Poll("k", []string{"lobby"}, user("ada"))()
}
