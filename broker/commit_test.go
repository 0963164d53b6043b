package broker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
)

// gatedLog wraps a real Log and holds every Append until released, or fails
// it: a fault injector for the commit path.
type gatedLog struct {
	broker.Log
	mu      sync.Mutex
	gate    chan struct{} // Append waits for it to close
	fail    error
	batches []int
}

func (g *gatedLog) Append(ctx context.Context, entries []broker.Entry) ([]*broker.Event, error) {
	g.mu.Lock()
	gate, fail := g.gate, g.fail
	g.batches = append(g.batches, len(entries))
	g.mu.Unlock()
	<-gate
	if fail != nil {
		return nil, fail
	}
	return g.Log.Append(ctx, entries)
}

// Durable before visible: while the commit is in flight, no subscriber
// sees the event and the publisher has no answer; a failed commit is never
// shown to anyone.
func TestDurableBeforeVisible(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := brokertest.NewMemLog()
		g := &gatedLog{Log: mem, gate: make(chan struct{})}
		b := broker.New(g, broker.Config{})
		defer b.Close()
		sub := mustSubscribe(t, b, []string{"r"}, broker.Position{})

		published := make(chan error, 1)
		go func() { _, err := b.Publish(context.Background(), msg("r", "t", 1)); published <- err }()
		synctest.Wait()
		if evs, _ := sub.TryNext(context.Background(), 0); len(evs) != 0 {
			t.Fatalf("subscriber saw %d events before the commit returned", len(evs))
		}
		select {
		case err := <-published:
			t.Fatalf("publish answered (%v) before the commit returned", err)
		default:
		}
		close(g.gate)
		if err := <-published; err != nil {
			t.Fatal(err)
		}
		if evs := nextN(t, sub, 1); evs[0].Offset != 1 {
			t.Fatalf("event after commit: %+v", evs[0])
		}

		g.mu.Lock()
		g.fail = errors.New("disk on fire")
		g.mu.Unlock()
		if _, err := b.Publish(context.Background(), msg("r", "t", 2)); err == nil {
			t.Fatal("publish succeeded although the commit failed")
		}
		synctest.Wait()
		if evs, _ := sub.TryNext(context.Background(), 0); len(evs) != 0 {
			t.Fatalf("subscriber saw a failed commit: %+v", evs[0])
		}
		if mem.Head() != 1 {
			t.Fatalf("log head = %d", mem.Head())
		}
	})
}

// Group commit: publishes that arrive while a commit is in flight share the
// next Append (one transaction, one fsync).
func TestGroupCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &gatedLog{Log: brokertest.NewMemLog(), gate: make(chan struct{})}
		b := broker.New(g, broker.Config{MaxBatch: 64})
		defer b.Close()
		const n = 100
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				_, err := b.Publish(context.Background(), msg("r", "t", i))
				errs <- err
			})
		}
		synctest.Wait() // one Append in flight, the rest queued
		close(g.gate)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		// At most one publish commits alone; the rest are queued behind it
		// and need ceil(99/64) = 2 more appends of at most MaxBatch each.
		total := 0
		for _, n := range g.batches {
			total += n
			if n > 64 {
				t.Fatalf("append of %d entries exceeds MaxBatch: %v", n, g.batches)
			}
		}
		if len(g.batches) > 3 || total != n {
			t.Fatalf("append batch sizes = %v, want 100 entries in at most 3 appends", g.batches)
		}
	})
}

// A lone publish is committed at once: the writer does not linger for
// company (no batch window, no timer). In the synctest bubble the clock
// moves only when every goroutine waits on time, so a publish that waited
// for a window would see it move; each lone publish is its own Append of
// one entry, while publishes that arrive together still share one
// (TestGroupCommit).
func TestLonePublishCommitsWithoutWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		open := make(chan struct{})
		close(open)
		g := &gatedLog{Log: brokertest.NewMemLog(), gate: open}
		b := broker.New(g, broker.Config{MaxBatch: 64})
		defer b.Close()
		const n = 5
		for i := range n {
			start := time.Now()
			if _, err := b.Publish(context.Background(), msg("r", "t", i)); err != nil {
				t.Fatal(err)
			}
			if waited := time.Since(start); waited != 0 {
				t.Fatalf("publish %d waited %v (on the bubble's clock) for its commit", i, waited)
			}
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if len(g.batches) != n {
			t.Fatalf("append batch sizes = %v, want %d appends of one entry", g.batches, n)
		}
		for _, size := range g.batches {
			if size != 1 {
				t.Fatalf("append batch sizes = %v, want %d appends of one entry", g.batches, n)
			}
		}
		if st := b.Stats(); st.Commits != n {
			t.Fatalf("Stats().Commits = %d, want %d", st.Commits, n)
		}
	})
}

// Close commits what was queued before it: graceful shutdown finishes
// in-flight publishes.
func TestCloseCommitsQueuedPublishes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := brokertest.NewMemLog()
		g := &gatedLog{Log: mem, gate: make(chan struct{})}
		b := broker.New(g, broker.Config{})
		const n = 10
		errs := make(chan error, n)
		for i := range n {
			go func() { _, err := b.Publish(context.Background(), msg("r", "t", i)); errs <- err }()
		}
		synctest.Wait()
		closed := make(chan struct{})
		go func() { b.Close(); close(closed) }()
		synctest.Wait()
		close(g.gate)
		<-closed
		for range n {
			if err := <-errs; err != nil {
				t.Fatalf("queued publish failed on Close: %v", err)
			}
		}
		if mem.Head() != n {
			t.Fatalf("head = %d, want %d", mem.Head(), n)
		}
	})
}

// Enqueue returns once the event is queued; events enqueued one after
// another commit in that order, several per commit; Wait returns each
// one's committed event, or ctx's error while the commit is held.
func TestEnqueueKeepsOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &gatedLog{Log: brokertest.NewMemLog(), gate: make(chan struct{})}
		b := broker.New(g, broker.Config{MaxBatch: 64}) // the queue holds 64
		defer b.Close()
		ctx := context.Background()
		const n = 50
		pending := make([]*broker.Pending, n)
		for i := range n {
			p, err := b.Enqueue(ctx, msg("r", "t", i))
			if err != nil {
				t.Fatal(err)
			}
			pending[i] = p
		}
		if _, err := b.Enqueue(ctx, msg("r", "bad type", 0)); !errors.Is(err, broker.ErrInvalid) {
			t.Fatalf("invalid message: %v, want ErrInvalid", err)
		}
		synctest.Wait() // the first commit is held at the gate
		short, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := pending[0].Wait(short); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait while the commit is held: %v", err)
		}
		close(g.gate)
		for i, p := range pending {
			ev, err := p.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Offset != uint64(i+1) || string(ev.Data) != fmt.Sprint(i) {
				t.Fatalf("event %d committed as offset %d with data %s", i, ev.Offset, ev.Data)
			}
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if len(g.batches) >= n {
			t.Fatalf("%d appends for %d events: no group commit", len(g.batches), n)
		}
	})
}
