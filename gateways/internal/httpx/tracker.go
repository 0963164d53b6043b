package httpx

import (
	"sync"
	"sync/atomic"
)

// Tracker counts a gateway's in-flight requests so that Close can end them
// and wait for them. The zero value is not usable: use NewTracker. All
// methods are safe for concurrent use.
type Tracker struct {
	active atomic.Int64

	mu      sync.Mutex     // guards closed and the Add side of running
	closed  bool           // set by Close; Begin refuses afterwards
	running sync.WaitGroup // requests between Begin and End
	closing chan struct{}  // closed by Close
}

// NewTracker returns an open Tracker.
func NewTracker() *Tracker { return &Tracker{closing: make(chan struct{})} }

// Begin registers a request. It returns false once Close has begun; then
// the request must not call End.
func (t *Tracker) Begin() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.running.Add(1)
	t.active.Add(1)
	return true
}

// End unregisters a request registered by Begin.
func (t *Tracker) End() {
	t.active.Add(-1)
	t.running.Done()
}

// Active returns how many requests are between Begin and End.
func (t *Tracker) Active() int { return int(t.active.Load()) }

// Closing returns a channel closed when Close begins: requests waiting for
// events select on it to finish promptly.
func (t *Tracker) Closing() <-chan struct{} { return t.closing }

// Close makes Begin refuse, closes the Closing channel, and waits until
// every registered request has ended. Safe to call more than once, from
// any goroutine but a tracked request's.
func (t *Tracker) Close() {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		close(t.closing)
	}
	t.mu.Unlock()
	t.running.Wait()
}
