package brokertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
)

// TestCursor runs the stress test of the subscription cursor (DESIGN.md
// invariant 3) on a broker over a Log from open (see TestLog for open).
//
// Publishers write to many rooms while retention trims them, and the
// broker keeps a tiny tail, so readers fall out of it and read the Log.
// Subscribers of two kinds run meanwhile:
//   - serial: one goroutine adds rooms (from random positions: the
//     earliest, far back, recent, beyond the head), removes them, adds
//     them again and reads with Next and TryNext;
//   - concurrent: one goroutine adds rooms while another reads, woken by
//     OnWake, with TryNext.
//
// The checker then verifies, per subscriber and room, that the events
// received since the room was (re)added are exactly the room's published
// events after its start position, in order, with no gap and no
// duplicate, except the ranges that a reset of the room reported; and
// (serial kind) that between two Add calls the events of all rooms came
// in ascending offset order. It runs with a tail of 8 events (most reads
// go to the Log) and with one that holds every event.
func TestCursor(t *testing.T, open func(t *testing.T) func() broker.Log) {
	t.Helper()
	for _, tail := range []int{8, 4096} {
		t.Run(fmt.Sprintf("Tail%d", tail), func(t *testing.T) { testCursor(t, open(t), tail) })
	}
}

func testCursor(t *testing.T, open func() broker.Log, tail int) {
	l := openLog(t, open)
	b := broker.New(l, broker.Config{TailSize: tail, MaxBatch: 8})
	t.Cleanup(func() { b.Close() })
	rooms := []string{"r0", "r1", "r2", "r3", "r4", "r5"}
	// Publishers go on (paced, up to maxPerPublisher events each) until
	// every subscriber has done its share: busy counts those that have not.
	const publishers, maxPerPublisher, serial, concurrent = 4, 1000, 6, 3
	var busy atomic.Int64
	busy.Store(serial + concurrent)
	working := make(chan struct{}) // closed when every subscriber has done its share
	done := func() {
		if busy.Add(-1) == 0 {
			close(working)
		}
	}

	var pubs, subs, trimmer sync.WaitGroup
	stop := make(chan struct{}) // publishers are done
	published := make([][]*broker.Event, publishers)
	results := make([]cursorResult, serial+concurrent)
	for i := range serial {
		subs.Go(func() { results[i] = serialCursor(b, rooms, uint64(i), done, stop) })
	}
	for i := range concurrent {
		subs.Go(func() { results[serial+i] = concurrentCursor(b, rooms, uint64(i), done, stop) })
	}
	for p := range publishers {
		pubs.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p), 99))
			for i := range maxPerPublisher {
				select {
				case <-working:
					return
				case <-time.After(200 * time.Microsecond):
				}
				m := broker.Message{Room: rooms[rng.IntN(len(rooms))], Type: "t", Data: json.RawMessage(fmt.Sprint(i))}
				ev, err := b.Publish(context.Background(), m)
				if err != nil {
					t.Errorf("publish: %v", err)
					return
				}
				published[p] = append(published[p], ev)
			}
		})
	}
	trimDone := make(chan struct{})
	trimmer.Go(func() {
		for {
			select {
			case <-trimDone:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if _, err := b.Trim(context.Background(), broker.Retention{MaxCount: 30}); err != nil {
				t.Errorf("trim: %v", err)
				return
			}
		}
	})
	pubs.Wait()
	close(trimDone)
	trimmer.Wait()
	close(stop)
	subs.Wait()

	byRoom := make(map[string][]uint64)
	for _, evs := range published {
		for _, ev := range evs {
			byRoom[ev.Room] = append(byRoom[ev.Room], ev.Offset)
		}
	}
	for _, offs := range byRoom {
		slices.Sort(offs)
	}
	var pieces, checked int
	defer func() {
		t.Logf("checked %d events in %d pieces (room followed from a position through another)", checked, pieces)
	}()
	for i, res := range results {
		if res.err != nil {
			t.Errorf("subscriber %d: %v", i, res.err)
			continue
		}
		for _, p := range res.pieces {
			var want []uint64
			for _, off := range byRoom[p.room] {
				if off > p.start && off <= p.end {
					want = append(want, off)
				}
			}
			pieces, checked = pieces+1, checked+len(p.got)
			if p.end < p.start || fmt.Sprint(p.got) != fmt.Sprint(want) {
				t.Errorf("subscriber %d, room %s followed from %d through %d: got %v, want %v", i, p.room, p.start, p.end, p.got, want)
			}
		}
	}
}

// cursorPiece is what a subscriber received of a room from start through
// end (positions of the room): a piece ends where the room is removed,
// re-added or reset, or at the end of the test.
type cursorPiece struct {
	room       string
	start, end uint64
	got        []uint64
}

type cursorResult struct {
	pieces []cursorPiece
	err    error
}

// serialCursor runs a subscriber that adds, removes and reads on one
// goroutine, until stop is closed and it has read through the head. It
// calls done after 300 operations.
func serialCursor(b *broker.Broker, rooms []string, seed uint64, done func(), stop <-chan struct{}) (res cursorResult) {
	done = sync.OnceFunc(done)
	defer done()
	ops := 0
	rng := rand.New(rand.NewPCG(seed, 7))
	ctx := context.Background()
	var initial []string
	for _, r := range rooms {
		if rng.IntN(3) == 0 {
			initial = append(initial, r)
		}
	}
	sub, err := b.Subscribe(ctx, initial, broker.Position{}) // from 0: never a reset
	if err != nil {
		return cursorResult{err: err}
	}
	defer sub.Close()
	open := make(map[string]*cursorPiece) // the current piece of each followed room
	begin := func(room string) {
		pos, ok := sub.RoomPosition(room)
		if !ok {
			res.err = fmt.Errorf("room %s not followed after Add", room)
		}
		open[room] = &cursorPiece{room: room, start: pos}
	}
	end := func(room string, at uint64) {
		p := open[room]
		p.end = at
		res.pieces = append(res.pieces, *p)
		delete(open, room)
	}
	for _, r := range initial {
		begin(r)
	}
	var last uint64 // offset order across rooms since the last Add
	stopped := false
	for res.err == nil {
		select {
		case <-stop:
			stopped = true // then only read, through the head
			if pos := sub.Position().Offset; len(open) == 0 || pos >= b.Head().Offset {
				for r := range open {
					pos, _ := sub.RoomPosition(r)
					end(r, pos)
				}
				return res
			}
		default:
		}
		if ops++; ops == 300 {
			done()
		}
		op := rng.IntN(12)
		if stopped {
			op = 2
		}
		switch {
		case op == 0:
			room := rooms[rng.IntN(len(rooms))]
			head := b.Head().Offset
			from := []uint64{0, uint64(rng.Int64N(int64(head) + 1)), head, head + 5, 1}[rng.IntN(5)]
			if _, ok := open[room]; ok {
				pos, _ := sub.RoomPosition(room)
				end(room, pos)
			}
			re, err := sub.Add(ctx, room, broker.Position{Offset: from})
			if err != nil {
				res.err = fmt.Errorf("add %s from %d: %w", room, from, err)
				return res
			}
			begin(room)
			if re != nil && (re.Room != room || re.Resume.Offset != open[room].start) {
				res.err = fmt.Errorf("add %s from %d: reset %v, room position %d", room, from, re, open[room].start)
			}
			last = 0
		case op == 1 && len(open) > 0:
			room := rooms[rng.IntN(len(rooms))]
			if _, ok := open[room]; ok {
				pos, _ := sub.RoomPosition(room)
				end(room, pos)
			}
			sub.Remove(room)
			if _, ok := sub.RoomPosition(room); ok {
				res.err = fmt.Errorf("room %s followed after Remove", room)
			}
		default:
			var evs []*broker.Event
			var err error
			if rng.IntN(2) == 0 {
				rctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
				evs, err = sub.Next(rctx, 1+rng.IntN(8))
				cancel()
				if errors.Is(err, context.DeadlineExceeded) {
					err = nil
				}
			} else {
				evs, err = sub.TryNext(ctx, 1+rng.IntN(8))
				if err == nil && len(evs) == 0 {
					select {
					case <-sub.Wait():
					case <-time.After(5 * time.Millisecond):
					}
				}
			}
			var re *broker.ResetError
			switch {
			case errors.As(err, &re):
				p := open[re.Room]
				if p == nil || !errors.Is(re, broker.ErrTrimmed) {
					res.err = fmt.Errorf("reset %v of a room not followed, or not a trim", re)
					return res
				}
				end(re.Room, re.Requested.Offset)
				open[re.Room] = &cursorPiece{room: re.Room, start: re.Resume.Offset}
			case err != nil:
				res.err = err
			}
			for _, ev := range evs {
				p := open[ev.Room]
				if p == nil || ev.Offset <= last {
					res.err = fmt.Errorf("event %d of room %s after %d; followed: %v", ev.Offset, ev.Room, last, p != nil)
					return res
				}
				last = ev.Offset
				p.got = append(p.got, ev.Offset)
			}
		}
	}
	return res
}

// concurrentCursor runs a subscriber whose rooms are added (each once,
// from a position in [1, head], so that a trim is always a reset) by one
// goroutine while another reads with TryNext when OnWake says so.
// It calls done when every room is added.
func concurrentCursor(b *broker.Broker, rooms []string, seed uint64, done func(), stop <-chan struct{}) cursorResult {
	rng := rand.New(rand.NewPCG(seed, 11))
	ctx := context.Background()
	sub, err := b.Subscribe(ctx, nil, broker.Position{})
	if err != nil {
		return cursorResult{err: err}
	}
	defer sub.Close()
	kick := make(chan struct{}, 1)
	sub.OnWake(func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	})

	type item struct {
		off   uint64
		reset *broker.ResetError
	}
	starts := make(map[string]uint64) // written by the joiner
	var joinErr error
	joined := make(chan struct{})
	var joiner sync.WaitGroup
	joiner.Go(func() {
		defer done()
		defer close(joined)
		rng := rand.New(rand.NewPCG(seed, 13)) // the joiner's own
		for _, i := range rng.Perm(len(rooms)) {
			time.Sleep(time.Duration(rng.IntN(15)) * time.Millisecond)
			room := rooms[i]
			from := uint64(0)
			if head := b.Head().Offset; head > 0 {
				from = 1 + uint64(rng.Int64N(int64(head)))
			}
			re, err := sub.Add(ctx, room, broker.Position{Epoch: b.Epoch(), Offset: from})
			if err != nil {
				joinErr = err
				return
			}
			starts[room] = from
			if re != nil {
				starts[room] = re.Resume.Offset
			}
			_, _ = sub.RoomPosition(rooms[rng.IntN(len(rooms))])
			_ = sub.Rooms()
			_ = sub.Position()
		}
	})
	got := make(map[string][]item)
	var readErr error
	for {
		evs, err := sub.TryNext(ctx, 1+rng.IntN(8))
		var re *broker.ResetError
		switch {
		case errors.As(err, &re):
			got[re.Room] = append(got[re.Room], item{reset: re})
			continue
		case err != nil:
			readErr = err
		}
		for _, ev := range evs {
			got[ev.Room] = append(got[ev.Room], item{off: ev.Offset})
		}
		if readErr != nil {
			break
		}
		if len(evs) > 0 {
			continue
		}
		done := false
		select {
		case <-joined:
			select {
			case <-stop:
				done = sub.Position().Offset >= b.Head().Offset
			default:
			}
		default:
		}
		if done {
			break
		}
		select {
		case <-kick:
		case <-time.After(20 * time.Millisecond): // to see stop; wake-ups are tested elsewhere
		}
	}
	joiner.Wait()
	if joinErr != nil || readErr != nil {
		return cursorResult{err: errors.Join(joinErr, readErr)}
	}

	var res cursorResult
	for room := range got {
		if _, ok := starts[room]; !ok {
			return cursorResult{err: fmt.Errorf("events of room %s, never added", room)}
		}
	}
	for room, start := range starts {
		items := got[room]
		p := cursorPiece{room: room, start: start}
		for _, it := range items {
			if it.reset == nil {
				p.got = append(p.got, it.off)
				continue
			}
			p.end = it.reset.Requested.Offset
			res.pieces = append(res.pieces, p)
			p = cursorPiece{room: room, start: it.reset.Resume.Offset}
		}
		p.end, _ = sub.RoomPosition(room)
		res.pieces = append(res.pieces, p)
	}
	return res
}
