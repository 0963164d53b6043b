package typing_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
	"github.com/rtbroker/rtbroker/gateways/typing"
)

// stops returns the typing:stop events a subscription has ready, as
// "from/reason".
func stops(t *testing.T, sub *broker.Subscription) []string {
	t.Helper()
	evs, err := sub.TryNext(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.Type != typing.StopType || ev.Offset != 0 {
			t.Fatalf("unexpected event %s (offset %d)", ev.Type, ev.Offset)
		}
		out = append(out, ev.From+"/"+string(ev.Data))
	}
	return out
}

// TestTracker: the server stops a silent typist after the timeout (not
// before, and later when a start prolongs it), at once when its
// connection goes away, never after the typist stopped itself; and the
// number of typists is capped. Time is synctest's fake clock.
func TestTracker(t *testing.T) {
	const timeout = 5 * time.Second
	timedOut := `{"reason":"timeout"}`
	type step struct {
		at     time.Duration // since the start of the case
		do     func(tr *typing.Tracker)
		want   []string // stops ready at `at`, after do
		wantTy int      // typists tracked then
	}
	conn := new(int) // a connection
	start := func(from string, owner any) func(tr *typing.Tracker) {
		return func(tr *typing.Tracker) {
			if err := tr.Start("room", from, owner); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "silent typist stopped after the timeout", steps: []step{
			{at: 0, do: start("ada", nil), wantTy: 1},
			{at: timeout - time.Millisecond, wantTy: 1},
			{at: timeout + 200*time.Millisecond, want: []string{"ada/" + timedOut}},
		}},
		{name: "a start prolongs the typist", steps: []step{
			{at: 0, do: start("ada", nil), wantTy: 1},
			{at: 3 * time.Second, do: start("ada", nil), wantTy: 1},
			{at: timeout + time.Second, wantTy: 1},
			{at: 3*time.Second + timeout + 200*time.Millisecond, want: []string{"ada/" + timedOut}},
		}},
		{name: "a typist that stops itself is not stopped again", steps: []step{
			{at: 0, do: start("ada", nil), wantTy: 1},
			{at: time.Second, do: func(tr *typing.Tracker) { tr.Forget("room", "ada") }},
			{at: 2 * timeout},
		}},
		{name: "a connection that goes away stops its typists at once", steps: []step{
			{at: 0, do: start("ada", conn), wantTy: 1},
			{at: 0, do: start("bob", nil), wantTy: 2},
			{at: time.Second, do: func(tr *typing.Tracker) { tr.Gone(conn) }, want: []string{`ada/{"reason":"disconnect"}`}, wantTy: 1},
			{at: timeout + 200*time.Millisecond, want: []string{"bob/" + timedOut}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := broker.New(brokertest.NewMemLog(), broker.Config{})
				defer b.Close()
				tr := typing.New(b, typing.Config{Timeout: timeout})
				defer tr.Close()
				sub, err := b.Subscribe(context.Background(), []string{"room"}, broker.Position{})
				if err != nil {
					t.Fatal(err)
				}
				defer sub.Close()
				begin := time.Now()
				for i, s := range tc.steps {
					time.Sleep(s.at - time.Since(begin))
					if s.do != nil {
						s.do(tr)
					}
					synctest.Wait()
					got := stops(t, sub)
					if len(got) != len(s.want) || len(got) > 0 && got[0] != s.want[0] {
						t.Fatalf("step %d (at %v): stops %v, want %v", i, s.at, got, s.want)
					}
					if n := tr.Typists(); n != s.wantTy {
						t.Fatalf("step %d: %d typists, want %d", i, n, s.wantTy)
					}
				}
			})
		})
	}
	t.Run("cap on typists", func(t *testing.T) {
		b := broker.New(brokertest.NewMemLog(), broker.Config{})
		defer b.Close()
		tr := typing.New(b, typing.Config{MaxTypists: 2})
		defer tr.Close()
		for _, from := range []string{"a", "b", "a"} {
			if err := tr.Start("room", from, nil); err != nil {
				t.Fatalf("start %s: %v", from, err)
			}
		}
		var rl *wire.RateLimited
		if err := tr.Start("room", "c", nil); !errors.As(err, &rl) || rl.Wait != typing.DefaultTimeout {
			t.Fatalf("third typist: %v, want rate limited for the timeout", err)
		}
		if n := tr.Typists(); n != 2 {
			t.Fatalf("%d typists, want 2", n)
		}
	})
}
