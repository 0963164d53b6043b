package broker_test

import (
	"context"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
)

// TestAnnounceOptIn: an opt-in announcement reaches the subscriptions
// that opted in to the room only; the opt-in is per room, survives a
// second Add of the room, and ends with Remove; a room where nobody opted
// in announces nothing.
func TestAnnounceOptIn(t *testing.T) {
	b, _ := newBroker(t, broker.Config{})
	ctx := context.Background()
	in := mustSubscribe(t, b, []string{"r", "q"}, broker.Position{})
	out := mustSubscribe(t, b, []string{"r"}, broker.Position{})
	announce := func(room string, n int) *broker.Event {
		t.Helper()
		ev, err := b.AnnounceOptIn(msg(room, "presence:join", n))
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	if ev := announce("r", 0); ev != nil || b.HasOptIn("r") {
		t.Fatalf("nobody opted in: event %v", ev)
	}
	in.OptIn("r", true)
	in.OptIn("nope", true) // not followed: nothing
	if !b.HasOptIn("r") || b.HasOptIn("q") || b.HasOptIn("nope") {
		t.Fatal("HasOptIn does not follow OptIn")
	}
	announce("r", 1)
	announce("q", 2) // in follows q without opting in
	if _, err := in.Add(ctx, "r", broker.Position{}); err != nil {
		t.Fatal(err)
	}
	announce("r", 3)
	mustPublish(t, b, msg("r", "marker", 0))
	for name, s := range map[string]*broker.Subscription{"in": in, "out": out} {
		var got []string
		for len(got) == 0 || got[len(got)-1] != "marker0" {
			for _, ev := range nextN(t, s, 1) {
				got = append(got, ev.Type+string(ev.Data))
			}
		}
		want := map[string]string{"in": "[presence:join1 presence:join3 marker0]", "out": "[marker0]"}[name]
		if fmtList(got) != want {
			t.Errorf("%s received %v, want %s", name, got, want)
		}
	}
	in.Remove("r")
	if b.HasOptIn("r") {
		t.Fatal("Remove kept the opt-in")
	}
	if _, err := in.Add(ctx, "r", broker.Position{}); err != nil {
		t.Fatal(err)
	}
	if b.HasOptIn("r") {
		t.Fatal("a room followed again after Remove starts opted in")
	}
	in.OptIn("r", true)
	in.Close()
	if b.HasOptIn("r") {
		t.Fatal("Close kept the opt-in")
	}
	if _, err := b.AnnounceOptIn(msg("bad room!", "presence:join", 0)); err != nil {
		t.Fatalf("a room nobody follows is not even validated: %v", err)
	}
}

func fmtList(s []string) string {
	out := "["
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out + "]"
}

// A read that stops where one group of rooms joins the next, with events
// of the merged group already committed above it, wakes the reader again:
// a reader scheduled by wake-ups (a pump task that reads until a short
// batch) would otherwise wait for the next commit to get them.
func TestShortReadAtMergeWakesAgain(t *testing.T) {
	b, _ := newBroker(t, broker.Config{})
	ctx := context.Background()
	mustPublish(t, b, msg("b", "m", 1))
	mustPublish(t, b, msg("b", "m", 2))
	s := mustSubscribe(t, b, []string{"a"}, broker.Position{Offset: 2})
	if _, err := s.Add(ctx, "b", broker.Position{}); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, b, msg("a", "m", 3)) // above the group of a
	woke := 0
	s.OnWake(func() { woke++ })
	var got []uint64
	for {
		evs, err := s.TryNext(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			got = append(got, ev.Offset)
		}
		if len(evs) == 0 {
			break
		}
		if woke == 0 {
			break // a wake-up scheduled reader stops here
		}
		woke = 0
	}
	if len(got) != 3 {
		t.Fatalf("a reader that reads while woken got %v, want [1 2 3]", got)
	}
}
