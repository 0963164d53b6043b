package broker

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// DefaultReadLimit is how many events Next returns at most when its limit
// is not positive.
const DefaultReadLimit = 256

// Subscription is a cursor over the events of a set of rooms, each room
// at its own position: Next returns the events of the rooms after their
// positions and advances them. Rooms are added (from a position) and
// removed while the subscription is live, so a gateway keeps no offsets
// of its own. Replay and live delivery are the same code path: Next reads
// from the in-memory tail when it covers a position, from the Log
// otherwise, and waits for the next commit when there is nothing to read.
//
// Delivery: Next returns each room's events exactly once, in offset
// order, with no gap from the room's position (except events retention
// removed, which are reported by a reset), and across rooms in offset
// order: the events of all calls between two Add calls form one ascending
// sequence. Rooms at the lowest position are read first, up to the next
// room's position, where they join it; rooms that share a position are
// read together, so a subscription whose rooms all share one position
// reads exactly as a single-position cursor does.
//
// Nothing is queued per subscription except ephemeral events (bounded,
// oldest dropped), so a subscriber that reads slowly costs no memory and
// never slows the publisher: it just reads further back.
//
// Next and TryNext must not be called concurrently with each other or
// themselves (one reader); Add, Remove, RoomPosition, Rooms, Position,
// Reset, Wait, OnWake and Close are safe to call from any goroutine,
// concurrently with the reader.
type Subscription struct {
	b     *Broker
	reset *ResetError // set by Subscribe when the position could not be honoured; immutable

	pos    atomic.Uint64                 // cur.min(), written under mu, read by Position without it
	wakeC  atomic.Pointer[chan struct{}] // cap 1: a commit or ephemeral event arrived; made by the first Wait
	onWake atomic.Pointer[func()]
	closed atomic.Bool // set under mu (so Add never registers a closed subscription); read without it
	// liveAfter is the log's head when a room was last added (Subscribe,
	// Add): events at or below it were committed before the subscriber
	// followed their room (a replay), those above are live. Raised under
	// mu, read without it (LiveAfter, the replay counters).
	liveAfter atomic.Uint64

	// mu guards cur, eph and resets. Lock order: mu, then Broker.mu. The
	// reader holds it while it reads the tail (in memory, short), never
	// while it reads the Log or waits.
	mu     sync.Mutex
	cur    cursor
	eph    ephQueue   // pending ephemeral events of followed rooms, oldest first
	resets resetQueue // per-room resets Next has still to report, in order

	// buf is reused by Next for its result: made by the first result
	// (a subscription that never had one keeps a word, not a slice's
	// three), then kept while at most maxKeptBuf. Owned by the Next
	// caller.
	buf *[]*Event
}

// maxKeptBuf bounds the result buffer a subscription keeps between calls.
const maxKeptBuf = 64

// Subscribe opens a subscription to rooms (duplicates are ignored; none
// is allowed: Add rooms later, Next waits until one has events), every
// room starting after position from. An offset of 0 means "from the
// earliest retained event" and is never a reset. When from cannot be
// honoured exactly, Reset says why:
//   - from.Epoch is set and is not the log's epoch, or from.Offset is
//     beyond the head (the log was recreated): ErrEpochMismatch for all
//     rooms at once (ResetError.Room is empty); every room starts at its
//     earliest retained event;
//   - retention removed events of some rooms after from.Offset:
//     ErrTrimmed per room (ResetError.Room names it); each such room
//     continues from its earliest retained event, the others from from.
//     Reset returns the first such room's reset (by name) and Next reports
//     the others', one per call, before any event.
//
// Errors: ErrInvalid for a bad room name, ErrClosed, or a Log read error.
func (b *Broker) Subscribe(ctx context.Context, rooms []string, from Position) (*Subscription, error) {
	rs := slices.Clone(rooms)
	slices.Sort(rs)
	rs = slices.Compact(rs)
	for _, r := range rs {
		if err := ValidateRoom(r); err != nil {
			return nil, err
		}
	}
	s := &Subscription{b: b, cur: newCursor(rs, 0)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	head := b.tail.head
	s.liveAfter.Store(head)
	for _, r := range rs {
		b.tail.room(r).subs[s] = struct{}{}
	}
	if len(rs) == 0 {
		b.idle[s] = struct{}{}
	}
	b.mu.Unlock()
	b.stats.subscriptions.Add(1)
	b.stats.joins.Add(int64(len(rs)))

	pos := from.Offset
	if pos > 0 && (from.Epoch != "" && from.Epoch != b.epoch || pos > head && b.beyondHead(ctx, pos)) {
		s.reset = &ResetError{Reason: ErrEpochMismatch, Requested: from}
		pos = 0
	}
	var marks []roomMark
	if len(rs) > 0 {
		// Ask the Log whether retention removed anything after pos, even
		// when the tail holds the position, so a subscriber is told what
		// the Log says.
		res, err := b.log.Read(ctx, rs, pos, 1)
		if err == nil && res.Trimmed > 0 {
			marks, err = b.trimMarks(ctx, rs, pos, res.Trimmed)
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("subscribe to %v: %w", rs, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(rs) > 0 {
		s.cur.groups[0].pos = pos
	}
	for _, m := range marks {
		s.cur.move(m.room, m.mark)
		if pos > 0 { // from 0 (asked or after an epoch reset) is never a trim reset
			s.resets.push(&ResetError{
				Reason: ErrTrimmed, Room: m.room, Requested: from,
				Resume: Position{Epoch: b.epoch, Offset: m.mark},
			})
		}
	}
	if s.reset != nil {
		s.reset.Resume = Position{Epoch: b.epoch, Offset: s.cur.min()}
	} else if re := s.resets.pop(); re != nil {
		s.reset = re
	}
	s.pos.Store(s.cur.min())
	// A refused position counts like a refused join. A served one does not
	// count as a recovery: a long-poll subscribes from a position on every
	// request, so Resumed counts joins (Add) only.
	if s.reset != nil && from.Offset > 0 && len(rs) > 0 {
		if s.reset.Reason == ErrTrimmed {
			b.stats.resetTrimmed.Add(1)
		} else {
			b.stats.resetEpoch.Add(1)
		}
	}
	return s, nil
}

// LiveAfter returns the offset above which the subscription's events are
// live: committed after it began following their room (the log's head at
// Subscribe or at the latest Add). Events at or below it, read by a
// subscriber that started from an earlier position, are a replay. Safe to
// call from any goroutine; it takes no lock.
func (s *Subscription) LiveAfter() uint64 { return s.liveAfter.Load() }

// countUpTo returns how many of evs (ascending offsets) are at or below
// off.
func countUpTo(evs []*Event, off uint64) int64 {
	n, _ := slices.BinarySearchFunc(evs, off+1, func(ev *Event, o uint64) int { return cmp.Compare(ev.Offset, o) })
	return int64(n)
}

// Reset returns why the subscription did not start exactly where
// Subscribe was asked to, or nil when it did (the client recovered
// everything). See Subscribe.
func (s *Subscription) Reset() *ResetError { return s.reset }

// Position returns the lowest position of the subscription's rooms (0
// while it follows none): every event of every room up to it has been
// returned by Next (or skipped by a reset). Subscribing again to Rooms()
// from it misses nothing; a room whose own position (RoomPosition) is
// higher gets again its events between the two, unless retention removed
// them (a room moved ahead by a trim reset has none there; it is reported
// trimmed again). For an exact continuation of every room, follow each
// from its RoomPosition. Safe to call from any goroutine; it takes no
// lock.
func (s *Subscription) Position() Position {
	return Position{Epoch: s.b.epoch, Offset: s.pos.Load()}
}

// Next returns the next events of the subscription's rooms, at most limit
// committed events (DefaultReadLimit when limit <= 0) in offset order (see
// Subscription for the order across rooms), preceded by any pending
// ephemeral events of the rooms. A call may return fewer than limit while
// more are ready (a group of rooms reached the next one's position): it
// then signals Wait and OnWake again, so a reader that reads until a
// short batch and then waits for a wake-up misses nothing. It blocks until there is at least one
// event, ctx ends (ctx.Err()), the subscription or broker is closed
// (ErrClosed), or the Log fails; it holds no lock while it waits or reads
// the Log. With no rooms it waits until a room is added and has events.
//
// When retention removed events of a room that the subscriber had not
// read yet, Next returns a *ResetError (wrapping ErrTrimmed, Room naming
// the room) once for that room, with no events, and the room continues
// from its earliest retained event (Resume). The returned slice is valid
// until the next call of Next or TryNext; the events must not be modified
// (they are shared with other subscribers) but may be kept.
func (s *Subscription) Next(ctx context.Context, limit int) ([]*Event, error) {
	return s.next(ctx, limit, true)
}

// TryNext is Next without the wait: when nothing is ready it returns no
// events and a nil error at once. Use it with Wait to wait for events
// together with other signals (timers, shutdown):
//
//	for {
//		evs, err := sub.TryNext(ctx, 0)
//		…
//		if len(evs) == 0 {
//			select {
//			case <-sub.Wait():
//			case <-heartbeat.C:
//			}
//		}
//	}
func (s *Subscription) TryNext(ctx context.Context, limit int) ([]*Event, error) {
	return s.next(ctx, limit, false)
}

func (s *Subscription) next(ctx context.Context, limit int, wait bool) ([]*Event, error) {
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	b := s.b
	for {
		if s.closed.Load() || b.done.Load() {
			return nil, ErrClosed
		}
		out, again, err := s.step(ctx, limit)
		if err != nil {
			return nil, err
		}
		if len(out) > 0 {
			if cap(out) <= maxKeptBuf {
				if s.buf == nil {
					s.buf = new([]*Event)
				}
				*s.buf = out[:0]
			}
			if again {
				// The read stopped where a group of rooms joined the
				// next one (or read the Log), short of limit, with more
				// events possibly ready above: the commits that woke the
				// reader for them came before, so wake it again. A reader
				// that stops at a short batch (a pump task) would
				// otherwise wait for the next commit to read them.
				s.wake()
				s.notify()
			}
			return out, nil
		}
		if again {
			continue
		}
		if !wait {
			return nil, ctx.Err()
		}
		if ctx.Done() == nil {
			<-s.Wait()
			continue
		}
		select {
		case <-s.Wait():
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// step makes one read: a pending reset, or the pending ephemeral events
// and the events of the lowest group of rooms up to the next group's
// position, from the tail when it covers them, else from the Log. again
// reports that a read that returned nothing made progress (the group
// reached the next one, or a Log read moved on), so the caller reads
// again before it waits.
func (s *Subscription) step(ctx context.Context, limit int) (out []*Event, again bool, err error) {
	s.mu.Lock()
	if re := s.resets.pop(); re != nil {
		s.mu.Unlock()
		return nil, false, re
	}
	if s.buf != nil {
		out = (*s.buf)[:0]
	}
	out = s.eph.appendTo(out)
	if len(s.cur.groups) == 0 {
		s.eph.clear()
		s.mu.Unlock()
		return out, false, nil
	}
	g := &s.cur.groups[0]
	upto := uint64(math.MaxUint64)
	if len(s.cur.groups) > 1 {
		upto = s.cur.groups[1].pos
	}
	b := s.b
	b.mu.RLock()
	n0 := len(out)
	out, through, ok := b.tail.read(g.rooms, g.pos, upto, limit, out)
	b.mu.RUnlock()
	if ok {
		if n := len(out) - n0; n > 0 { // one atomic add per read, not per event
			b.stats.readTail.Add(int64(n))
			if la := s.liveAfter.Load(); g.pos < la { // a replay: count what is not live
				b.stats.replayTail.Add(countUpTo(out[n0:], la))
			}
		}
		s.eph.clear()
		again = s.cur.advance(through)
		s.pos.Store(s.cur.groups[0].pos)
		s.mu.Unlock()
		return out, again, nil
	}
	rooms, pos, gen := g.rooms, g.pos, s.cur.gen
	s.mu.Unlock()
	return s.readLog(ctx, rooms, pos, upto, gen, limit, out[:0])
}

// readLog reads the group of rooms at pos from the Log (without the lock),
// up to upto, and applies the result unless an Add or Remove changed the
// rooms meanwhile (gen): then nothing is returned and the caller reads
// again.
func (s *Subscription) readLog(ctx context.Context, rooms []string, pos, upto, gen uint64, limit int, out []*Event) ([]*Event, bool, error) {
	b := s.b
	res, err := b.log.Read(ctx, rooms, pos, limit)
	if err != nil {
		return nil, false, fmt.Errorf("read rooms %v after %d: %w", rooms, pos, err)
	}
	b.stats.readLog.Add(int64(len(res.Events)))
	if la := s.liveAfter.Load(); pos < la && len(res.Events) > 0 {
		b.stats.replayLog.Add(countUpTo(res.Events, la))
	}
	var marks []roomMark
	if res.Trimmed > 0 {
		if marks, err = b.trimMarks(ctx, rooms, pos, res.Trimmed); err != nil {
			return nil, false, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.gen != gen || s.closed.Load() {
		return nil, true, nil
	}
	if len(marks) > 0 {
		for _, m := range marks {
			s.cur.move(m.room, m.mark)
			s.resets.push(&ResetError{
				Reason: ErrTrimmed, Room: m.room,
				Requested: Position{Epoch: b.epoch, Offset: pos},
				Resume:    Position{Epoch: b.epoch, Offset: m.mark},
			})
		}
		s.pos.Store(s.cur.min())
		return nil, false, s.resets.pop()
	}
	evs, through := res.Events, res.Through
	if through > upto {
		// Events above the next group's position are read again with it.
		n, _ := slices.BinarySearchFunc(evs, upto+1, func(ev *Event, off uint64) int {
			return cmp.Compare(ev.Offset, off)
		})
		evs, through = evs[:n], upto
	}
	out = s.eph.appendTo(out)
	s.eph.clear()
	out = append(out, evs...)
	again := through > pos
	s.cur.advance(through)
	s.pos.Store(s.cur.groups[0].pos)
	return out, again, nil
}

// Wait returns a channel that receives a value when there may be something
// new for TryNext (a commit to one of the rooms, an ephemeral event, Close
// of the subscription or of the broker). It may also fire when there is
// nothing new. The channel is made by the first call (a subscription read
// through OnWake never has one), ready to fire once, as nothing signalled
// it before.
func (s *Subscription) Wait() <-chan struct{} {
	if p := s.wakeC.Load(); p != nil {
		return *p
	}
	ch := make(chan struct{}, 1)
	ch <- struct{}{}
	if !s.wakeC.CompareAndSwap(nil, &ch) {
		return *s.wakeC.Load()
	}
	return ch
}

// OnWake sets fn to be called each time Wait's channel is signalled (a
// commit to one of the rooms, an ephemeral event, Close of the
// subscription or of the broker), so a reader can be scheduled instead of
// parking a goroutine on Wait. fn is called after the commit, outside the
// broker's locks, from the goroutine that caused the wake-up (the broker's
// writer, a publisher of an ephemeral event, a closer); it must not block
// and must not call back into the broker. Wait keeps working. Wake-ups
// that happen before OnWake are only signalled on the channel: read with
// TryNext once after setting fn. nil removes the callback.
func (s *Subscription) OnWake(fn func()) {
	if fn == nil {
		s.onWake.Store(nil)
		return
	}
	s.onWake.Store(&fn)
}

// wake signals the channel; it may be called with the broker's lock held.
// The caller then calls notify without the lock when wants reports true.
func (s *Subscription) wake() (wants bool) {
	if p := s.wakeC.Load(); p != nil {
		select {
		case *p <- struct{}{}:
		default:
		}
	}
	return s.onWake.Load() != nil
}

// notify calls the OnWake callback, if any. Never with the broker's lock
// held.
func (s *Subscription) notify() {
	if fn := s.onWake.Load(); fn != nil {
		(*fn)()
	}
}

// pushEphemeral queues ev (of a room the subscription may follow) and
// wakes the subscription; an event of a room no longer followed is
// dropped.
func (s *Subscription) pushEphemeral(ev *Event) {
	s.mu.Lock()
	if !s.cur.has(ev.Room) {
		s.mu.Unlock()
		return
	}
	s.eph.push(ev, s.b.cfg.EphemeralBuffer)
	s.mu.Unlock()
	s.wake()
	s.notify()
}

// Close ends the subscription: a blocked Next returns ErrClosed, later
// calls of Next, TryNext and Add too. Safe to call more than once, from
// any goroutine, concurrently with Next.
func (s *Subscription) Close() {
	b := s.b
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return
	}
	b.mu.Lock()
	for _, r := range s.cur.all {
		if rt := b.tail.rooms[r]; rt != nil {
			rt.unsubscribe(s)
			b.tail.dropIfIdle(r, rt)
		}
	}
	delete(b.idle, s)
	b.mu.Unlock()
	b.stats.leaves.Add(int64(len(s.cur.all)))
	s.eph, s.resets = ephQueue{}, resetQueue{}
	s.mu.Unlock()
	b.stats.subscriptions.Add(-1)
	s.wake()
	s.notify()
}

// ephQueue is a Subscription's pending ephemeral events, oldest first.
// Most subscriptions never have one (only rooms with typing indicators
// and the like do), so the queue is a pointer until the first: it keeps
// every idle subscription 16 bytes smaller (in the 144-byte size class).
// Guarded by Subscription.mu.
type ephQueue struct {
	q *[]*Event // made by the first push
}

// push appends ev, dropping the oldest event when max are pending.
func (eq *ephQueue) push(ev *Event, max int) {
	if eq.q == nil {
		eq.q = new([]*Event)
	}
	q := *eq.q
	if len(q) >= max {
		copy(q, q[1:])
		q = q[:len(q)-1]
	}
	*eq.q = append(q, ev)
}

// appendTo appends the pending events to out.
func (eq *ephQueue) appendTo(out []*Event) []*Event {
	if eq.q == nil {
		return out
	}
	return append(out, *eq.q...)
}

// clear drops the pending events (taken); the array is kept.
func (eq *ephQueue) clear() {
	if eq.q != nil && len(*eq.q) > 0 {
		clear(*eq.q)
		*eq.q = (*eq.q)[:0]
	}
}

// dropRoom removes the pending events of room.
func (eq *ephQueue) dropRoom(room string) {
	if eq.q != nil {
		*eq.q = slices.DeleteFunc(*eq.q, func(ev *Event) bool { return ev.Room == room })
	}
}

// resetQueue is a Subscription's per-room resets still to report, oldest
// first. They are rare (a room trimmed under a reader), so the queue is a
// pointer until the first: it keeps every idle subscription 16 bytes
// smaller. Guarded by Subscription.mu.
type resetQueue struct {
	q *[]*ResetError // made by the first push
}

// push appends re.
func (rq *resetQueue) push(re *ResetError) {
	if rq.q == nil {
		rq.q = new([]*ResetError)
	}
	*rq.q = append(*rq.q, re)
}

// pop removes and returns the oldest reset, or nil.
func (rq *resetQueue) pop() *ResetError {
	if rq.q == nil || len(*rq.q) == 0 {
		return nil
	}
	re := (*rq.q)[0]
	*rq.q = slices.Delete(*rq.q, 0, 1)
	return re
}

// dropRoom removes the resets of room.
func (rq *resetQueue) dropRoom(room string) {
	if rq.q != nil {
		*rq.q = slices.DeleteFunc(*rq.q, func(re *ResetError) bool { return re.Room == room })
	}
}
