package broker

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// DefaultReadLimit is how many events Next returns at most when its limit
// is not positive.
const DefaultReadLimit = 256

// Subscription is a cursor over the events of a set of rooms. It holds a
// position; Next returns the events of its rooms after that position and
// advances it. Replay and live delivery are the same code path: Next reads
// from the in-memory tail when it covers the position, from the Log
// otherwise, and waits for the next commit when there is nothing to read.
//
// Nothing is queued per subscription except ephemeral events (bounded,
// oldest dropped), so a subscriber that reads slowly costs no memory and
// never slows the publisher: it just reads further back.
//
// Next must not be called concurrently with itself; Position, Rooms and
// Close are safe to call from any goroutine.
type Subscription struct {
	b     *Broker
	rooms []string
	reset *ResetError // set at Subscribe when the position could not be honoured

	pos    atomic.Uint64                 // everything of rooms up to pos has been returned
	wakeC  atomic.Pointer[chan struct{}] // cap 1: a commit or ephemeral event arrived; made by the first Wait
	onWake atomic.Pointer[func()]
	closed atomic.Bool

	mu  sync.Mutex // guards eph
	eph []*Event

	buf []*Event // reused by Next for its result; owned by the Next caller

	// Owned by the Next caller:
	trimSeen uint64   // highest trim watermark already reported
	pending  []*Event // events read with a reset, returned by the next call
}

// maxKeptBuf bounds the result buffer a subscription keeps between calls.
const maxKeptBuf = 64

// Subscribe opens a subscription to rooms (at least one; duplicates are
// ignored) starting after position from. An offset of 0 means "from the
// earliest retained event" and is never a reset. When from cannot be honoured exactly, the
// subscription starts just before the earliest retained event and Reset
// says why:
//   - from.Epoch is set and is not the log's epoch, or from.Offset is
//     beyond the head (the log was recreated): ErrEpochMismatch;
//   - retention removed events of these rooms after from.Offset: ErrTrimmed.
//
// Errors: ErrInvalid for a bad room name, ErrClosed, or a Log read error.
func (b *Broker) Subscribe(ctx context.Context, rooms []string, from Position) (*Subscription, error) {
	if len(rooms) == 0 {
		return nil, invalid("room", "no room given")
	}
	rs := slices.Clone(rooms)
	slices.Sort(rs)
	rs = slices.Compact(rs)
	for _, r := range rs {
		if err := ValidateRoom(r); err != nil {
			return nil, err
		}
	}
	s := &Subscription{b: b, rooms: rs}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	head := b.tail.head
	for _, r := range rs {
		b.tail.room(r).subs[s] = struct{}{}
	}
	b.mu.Unlock()
	b.stats.subscriptions.Add(1)

	pos := from.Offset
	if pos > 0 && (from.Epoch != "" && from.Epoch != b.epoch || pos > head) {
		s.reset = &ResetError{Reason: ErrEpochMismatch, Requested: from}
		pos = 0
	}
	// Ask the Log whether retention removed anything after pos, even when
	// the tail holds the position, so a subscriber is told what the Log says.
	res, err := b.log.Read(ctx, rs, pos, 1)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("subscribe to %v: %w", rs, err)
	}
	if res.Trimmed > 0 {
		s.trimSeen = res.Trimmed
		if pos > 0 && s.reset == nil {
			s.reset = &ResetError{Reason: ErrTrimmed, Requested: from}
		}
		pos = s.skipTrimmed(pos, res.Trimmed)
	}
	if s.reset != nil {
		s.reset.Resume = Position{Epoch: b.epoch, Offset: pos}
	}
	s.pos.Store(pos)
	return s, nil
}

// skipTrimmed returns where to continue after a trim reported by the Log:
// a single room continues from its watermark; several rooms keep pos, as
// the watermark of one room may be above retained events of another (the
// Log's read already starts each room at its earliest retained event).
func (s *Subscription) skipTrimmed(pos, trimmed uint64) uint64 {
	if len(s.rooms) == 1 {
		return max(pos, trimmed)
	}
	return pos
}

// Rooms returns the subscribed rooms, sorted. The caller must not modify
// the slice.
func (s *Subscription) Rooms() []string { return s.rooms }

// Reset returns why the subscription did not start exactly where it was
// asked to, or nil when it did (the client recovered everything).
func (s *Subscription) Reset() *ResetError { return s.reset }

// Position returns the subscription's position: every event of its rooms
// up to it has been returned by Next. Resubscribing from it continues
// without gap or duplicate.
func (s *Subscription) Position() Position {
	return Position{Epoch: s.b.epoch, Offset: s.pos.Load()}
}

// Next returns the next events of the subscription's rooms, at most limit
// committed events (DefaultReadLimit when limit <= 0) in offset order,
// preceded by any pending ephemeral events. It blocks until there is at
// least one event, ctx ends (ctx.Err()), the subscription or broker is
// closed (ErrClosed), or the Log fails.
//
// When retention removed events the subscriber had not read yet, Next
// returns a *ResetError (wrapping ErrTrimmed) once and continues from the
// earliest retained event on the following call. The returned slice is
// valid until the next call of Next or TryNext; the events must not be
// modified (they are shared with other subscribers) but may be kept.
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
		if len(s.pending) > 0 {
			out := s.pending
			s.pending = nil
			return out, nil
		}
		out := s.takeEphemeral(s.buf[:0])
		pos := s.pos.Load()
		b.mu.RLock()
		out, through, ok := b.tail.read(s.rooms, pos, limit, out)
		b.mu.RUnlock()
		if !ok {
			res, err := b.log.Read(ctx, s.rooms, pos, limit)
			if err != nil {
				return nil, fmt.Errorf("read rooms %v after %d: %w", s.rooms, pos, err)
			}
			if res.Trimmed > s.trimSeen {
				s.trimSeen = res.Trimmed
				s.pos.Store(max(pos, res.Through))
				s.pending = append(out, res.Events...)
				return nil, &ResetError{
					Reason:    ErrTrimmed,
					Requested: Position{Epoch: b.epoch, Offset: pos},
					Resume:    Position{Epoch: b.epoch, Offset: s.skipTrimmed(pos, res.Trimmed)},
				}
			}
			out = append(out, res.Events...)
			through = res.Through
		}
		if through > pos {
			s.pos.Store(through)
		}
		if len(out) > 0 {
			if cap(out) <= maxKeptBuf {
				s.buf = out[:0]
			}
			return out, nil
		}
		if !ok {
			continue // the log read reached the head; the tail covers the rest
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

func (s *Subscription) pushEphemeral(ev *Event) {
	s.mu.Lock()
	if len(s.eph) >= s.b.cfg.EphemeralBuffer {
		copy(s.eph, s.eph[1:])
		s.eph = s.eph[:len(s.eph)-1]
	}
	s.eph = append(s.eph, ev)
	s.mu.Unlock()
	s.wake()
	s.notify()
}

func (s *Subscription) takeEphemeral(out []*Event) []*Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out = append(out, s.eph...)
	clear(s.eph)
	s.eph = s.eph[:0]
	return out
}

// Close ends the subscription: a blocked Next returns ErrClosed. Safe to
// call more than once and concurrently with Next.
func (s *Subscription) Close() {
	if s.closed.Swap(true) {
		return
	}
	b := s.b
	b.stats.subscriptions.Add(-1)
	b.mu.Lock()
	for _, r := range s.rooms {
		if rt := b.tail.rooms[r]; rt != nil {
			delete(rt.subs, s)
			b.tail.dropIfIdle(r, rt)
		}
	}
	b.mu.Unlock()
	s.wake()
	s.notify()
}
