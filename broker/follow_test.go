package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
)

// followLog is one process's handle on a MemStore that other processes
// append to as well, made a broker.Follower by reading the store. skip
// injects a fault: offsets it does not deliver although they exist (a
// message the follower missed), which the broker must still show, read
// from the log.
type followLog struct {
	*brokertest.MemLog
	skip map[uint64]bool
	hold chan struct{} // when not nil, Follow delivers nothing until it is closed
}

var _ broker.Follower = (*followLog)(nil)

func (l *followLog) Follow(ctx context.Context, after uint64, fn func([]*broker.Event)) error {
	if l.hold != nil {
		select {
		case <-l.hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		infos, err := l.Rooms(ctx)
		if err != nil {
			return err
		}
		rooms := make([]string, len(infos))
		for i, r := range infos {
			rooms[i] = r.Name
		}
		if len(rooms) > 0 {
			res, err := l.Read(ctx, rooms, after, 100)
			if err != nil {
				return err
			}
			var out []*broker.Event
			for _, ev := range res.Events {
				if !l.skip[ev.Offset] {
					out = append(out, ev)
				}
			}
			after = res.Through
			if len(out) > 0 {
				fn(out)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func (l *followLog) LastOffset(context.Context) (uint64, error) { return l.Head(), nil }

// TestFollowerFeedsTheTail: two brokers on one store, publishing in turn
// and at once, one of them a Follower that misses an offset (inside a
// batch it delivers): its subscriber still receives every event of the
// room once, in order (the missed one read from the log), and its own
// publishes are not shown twice.
func TestFollowerFeedsTheTail(t *testing.T) {
	store := brokertest.NewMemStore()
	other := broker.New(store.Open(), broker.Config{})
	defer other.Close()
	hold := make(chan struct{})
	me := broker.New(&followLog{MemLog: store.Open(), skip: map[uint64]bool{3: true}, hold: hold}, broker.Config{})
	defer me.Close()
	ctx := context.Background()
	sub, err := me.Subscribe(ctx, []string{"r"}, me.Head())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	pub := func(b *broker.Broker, i int) {
		if _, err := b.Publish(ctx, broker.Message{Room: "r", Type: "t", Data: json.RawMessage(fmt.Sprint(i))}); err != nil {
			t.Error(err)
		}
	}
	for i := range 6 { // in turn: 1 other, 2 me, 3 other (missed), …
		if i%2 == 0 {
			pub(other, i)
		} else {
			pub(me, i)
		}
	}
	close(hold) // the follower delivers 1, 2, 4, 5, 6 in one batch
	var wg sync.WaitGroup
	for i := range 40 { // at once
		wg.Go(func() {
			if i%2 == 0 {
				pub(other, i)
			} else {
				pub(me, i)
			}
		})
	}
	wg.Wait()
	want := 46
	got := make([]*broker.Event, 0, want)
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for len(got) < want {
		evs, err := sub.Next(c, want)
		if err != nil {
			var offs []uint64
			for _, ev := range got {
				offs = append(offs, ev.Offset)
			}
			t.Fatalf("after %d events %v: %v (head %d, log head %d, position %d, stats %+v)", len(got), offs, err, me.Head().Offset, other.Head().Offset, sub.Position().Offset, me.Stats())
		}
		got = append(got, evs...)
	}
	for i, ev := range got {
		if ev.Offset != uint64(i+1) {
			t.Fatalf("event %d has offset %d: a gap or a duplicate", i, ev.Offset)
		}
	}
	if evs, err := sub.TryNext(ctx, 10); err != nil || len(evs) > 0 {
		t.Fatalf("%d more events (%v)", len(evs), err)
	}
	for deadline := time.Now().Add(30 * time.Second); me.Head().Offset != uint64(want); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("head %d, want %d", me.Head().Offset, want)
		}
	}
}

// TestFollowerWaitsForAPositionItWasNotDeliveredYet: a position the log
// has committed and this broker has not been delivered yet is not beyond
// the head: Subscribe waits for it; one past the log's last offset is.
func TestFollowerWaitsForAPositionItWasNotDeliveredYet(t *testing.T) {
	store := brokertest.NewMemStore()
	other := broker.New(store.Open(), broker.Config{})
	defer other.Close()
	me := broker.New(&followLog{MemLog: store.Open()}, broker.Config{})
	defer me.Close()
	ctx := context.Background()
	last := publishThree(t, other)
	sub, err := me.Subscribe(ctx, []string{"r"}, broker.Position{Epoch: me.Epoch(), Offset: last.Offset})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if sub.Reset() != nil {
		t.Fatalf("reset %v", sub.Reset())
	}
	beyond, err := me.Subscribe(ctx, []string{"r"}, broker.Position{Epoch: me.Epoch(), Offset: last.Offset + 1})
	if err != nil {
		t.Fatal(err)
	}
	defer beyond.Close()
	if r := beyond.Reset(); r == nil {
		t.Fatal("a position beyond the log's last offset was not reset")
	}
}

// publishThree publishes three events to room r through b and returns
// the last.
func publishThree(t *testing.T, b *broker.Broker) *broker.Event {
	t.Helper()
	var last *broker.Event
	for i := range 3 {
		ev, err := b.Publish(context.Background(), broker.Message{Room: "r", Type: "t", Data: json.RawMessage(fmt.Sprint(i))})
		if err != nil {
			t.Fatal(err)
		}
		last = ev
	}
	return last
}
