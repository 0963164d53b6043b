// Package deadline runs callbacks at deadlines for many values with one
// goroutine and one timer: the SSE gateway's pings and token deadlines and
// the Socket.IO gateway's token expiries, without a goroutine or a timer
// per connection. (Engine.IO's heartbeat keeps its own sorted lists: its
// deadlines only grow by a constant, which lists serve in O(1) — see
// engineio's heartbeat.go for the measurements.)
//
// A Scheduler is an indexed 4-ary min-heap of entries: an Entry lives
// inside the value it schedules (no allocation), knows its place in the
// heap, and is rescheduled or removed in O(log n). Each owner (a gateway)
// creates its own Scheduler and closes it; there is no shared or global
// state.
package deadline

import (
	"sync"
	"time"
)

// Func is a Scheduler's callback, called on the Scheduler's goroutine when
// the entry of v is due: at is the deadline it was scheduled for, now the
// time of the sweep (now >= at). It returns v's next deadline, or the zero
// Time to leave the entry unscheduled. The returned deadline is dropped
// when the entry was rescheduled or removed while the callback ran (the
// owner's word is newer); a deadline not after now fires again at the
// next sweep.
//
// A Func must not block (it holds up every other deadline of its
// Scheduler), must not call Close, and may call Reset and Remove.
type Func[T any] func(v T, at, now time.Time) (next time.Time)

// Entry is the scheduling state of one value. Embed it in the value (or
// hold it there) and pass a pointer to Reset and Remove; it must not be
// copied once used. The zero Entry is unscheduled. Its fields are guarded
// by the Scheduler it is used with (one only).
type Entry[T any] struct {
	// Value is what the Func is called with. Set it before the first
	// Reset; do not change it while the entry is scheduled.
	Value T

	at  int64  // deadline, in nanoseconds since the Scheduler's base
	idx int    // 1 + the index in the heap; 0: not scheduled
	gen uint64 // counts Reset and Remove, so that a sweep knows it was overtaken
}

// Config configures a Scheduler.
type Config struct {
	// Tick is the least time between two sweeps: entries due within one
	// Tick of each other fire in the same sweep, at most Tick after their
	// deadline, never before it. Zero: every deadline is kept exactly.
	Tick time.Duration
}

// Scheduler calls its Func for each Entry whose deadline has come. It is
// safe for concurrent use. New starts its goroutine; Close stops it.
type Scheduler[T any] struct {
	fn   Func[T]
	tick time.Duration
	base time.Time     // the origin of Entry.at (with a monotonic reading)
	wake chan struct{} // cap 1: the earliest deadline moved earlier
	stop chan struct{} // closed by Close
	wg   sync.WaitGroup

	mu     sync.Mutex // guards heap, closed and every Entry's at, idx and gen
	heap   []slot[T]
	closed bool

	fired []fired[T] // the run goroutine's scratch, reused by every sweep
}

// slot is one heap element; the deadline is held beside the pointer so
// that ordering the heap reads no Entry.
type slot[T any] struct {
	at int64
	e  *Entry[T]
}

// fired is an entry taken out of the heap by a sweep.
type fired[T any] struct {
	e    *Entry[T]
	v    T
	at   int64
	gen  uint64
	next time.Time
}

// New returns a Scheduler calling fn and starts its goroutine.
func New[T any](cfg Config, fn Func[T]) *Scheduler[T] {
	s := &Scheduler[T]{
		fn:   fn,
		tick: max(cfg.Tick, 0),
		base: time.Now(),
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
	}
	s.wg.Go(s.run)
	return s
}

// Reset schedules e at at, whether it was scheduled or not, in O(log n).
func (s *Scheduler[T]) Reset(e *Entry[T], at time.Time) {
	d := int64(at.Sub(s.base))
	s.mu.Lock()
	e.gen++
	e.at = d
	if e.idx == 0 {
		s.heap = append(s.heap, slot[T]{d, e})
		e.idx = len(s.heap)
		s.up(e.idx - 1)
	} else {
		i := e.idx - 1
		s.heap[i].at = d
		if !s.up(i) {
			s.down(i)
		}
	}
	first := e.idx == 1
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// Remove unschedules e, in O(log n); an unscheduled e is left so. A
// callback of e that is already running is not waited for (its returned
// deadline is dropped).
func (s *Scheduler[T]) Remove(e *Entry[T]) {
	s.mu.Lock()
	e.gen++
	if e.idx != 0 {
		s.removeAt(e.idx - 1)
	}
	s.mu.Unlock()
}

// Scheduled reports whether e is scheduled, and when.
func (s *Scheduler[T]) Scheduled(e *Entry[T]) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.idx == 0 {
		return time.Time{}, false
	}
	return s.base.Add(time.Duration(e.at)), true
}

// Len returns how many entries are scheduled.
func (s *Scheduler[T]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.heap)
}

// FireAll makes every scheduled entry due now (in O(n)), as when their
// owner shuts down and each must act at once; their callbacks see the
// time of the call as their deadline.
func (s *Scheduler[T]) FireAll() {
	d := int64(time.Since(s.base))
	s.mu.Lock()
	for i := range s.heap {
		s.heap[i].at = d // all equal: still a heap
		s.heap[i].e.at = d
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Close stops the Scheduler and waits for its goroutine, including a
// callback that is running. Entries no longer fire afterwards; Reset and
// Remove still work (and do nothing useful). Idempotent; not to be called
// by a callback.
func (s *Scheduler[T]) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// run is the Scheduler's goroutine: it sleeps until the earliest deadline
// (and at least Tick after the previous sweep), then sweeps.
func (s *Scheduler[T]) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var last int64 // time of the previous sweep, since base
	for {
		s.mu.Lock()
		next, ok := int64(0), len(s.heap) > 0
		if ok {
			next = s.heap[0].at
		}
		s.mu.Unlock()
		if ok {
			now := int64(time.Since(s.base))
			timer.Reset(time.Duration(max(next, last+int64(s.tick)) - now))
		} else {
			timer.Stop()
		}
		select {
		case <-s.stop:
			return
		case <-s.wake:
			continue
		case <-timer.C:
		}
		now := time.Now()
		last = int64(now.Sub(s.base))
		s.sweep(now, last)
	}
}

// sweep takes the due entries out of the heap, calls their callbacks
// without the lock, and schedules the deadlines they return unless their
// owner has rescheduled or removed them meanwhile. It allocates nothing
// once the scratch has grown to the largest sweep.
func (s *Scheduler[T]) sweep(now time.Time, n int64) {
	s.mu.Lock()
	for len(s.heap) > 0 && s.heap[0].at <= n {
		e := s.heap[0].e
		s.fired = append(s.fired, fired[T]{e: e, v: e.Value, at: e.at, gen: e.gen})
		s.removeAt(0)
	}
	s.mu.Unlock()
	if len(s.fired) == 0 {
		return
	}
	for i := range s.fired {
		f := &s.fired[i]
		f.next = s.fn(f.v, s.base.Add(time.Duration(f.at)), now)
	}
	s.mu.Lock()
	for i := range s.fired {
		f := &s.fired[i]
		if !f.next.IsZero() && f.e.gen == f.gen && f.e.idx == 0 {
			d := int64(f.next.Sub(s.base))
			f.e.at = d
			s.heap = append(s.heap, slot[T]{d, f.e})
			f.e.idx = len(s.heap)
			s.up(f.e.idx - 1)
		}
		s.fired[i] = fired[T]{}
	}
	s.mu.Unlock()
	s.fired = s.fired[:0]
}

// removeAt removes the heap element at index i. Call with mu held.
func (s *Scheduler[T]) removeAt(i int) {
	h := s.heap
	last := len(h) - 1
	h[i].e.idx = 0
	if i != last {
		h[i] = h[last]
		h[i].e.idx = i + 1
	}
	h[last] = slot[T]{}
	s.heap = h[:last]
	if i != last && !s.up(i) {
		s.down(i)
	}
}

// The heap is 4-ary: half the levels of a binary heap, so a deadline
// moved to the end (the common case: a stream written, a ping sent)
// updates the index of half as many entries; the four children compared
// at each level are adjacent in the slice.
const arity = 4

// up moves the element at index i towards the root while it is earlier
// than its parent; it reports whether it moved. Call with mu held.
func (s *Scheduler[T]) up(i int) bool {
	h := s.heap
	x := h[i]
	start := i
	for i > 0 {
		p := (i - 1) / arity
		if h[p].at <= x.at {
			break
		}
		h[i] = h[p]
		h[i].e.idx = i + 1
		i = p
	}
	h[i] = x
	x.e.idx = i + 1
	return i != start
}

// down moves the element at index i towards the leaves while it is later
// than its earliest child. Call with mu held.
func (s *Scheduler[T]) down(i int) {
	h := s.heap
	n := len(h)
	x := h[i]
	for {
		first := arity*i + 1
		if first >= n {
			break
		}
		c := first
		for j := first + 1; j < min(first+arity, n); j++ {
			if h[j].at < h[c].at {
				c = j
			}
		}
		if x.at <= h[c].at {
			break
		}
		h[i] = h[c]
		h[i].e.idx = i + 1
		i = c
	}
	h[i] = x
	x.e.idx = i + 1
}
