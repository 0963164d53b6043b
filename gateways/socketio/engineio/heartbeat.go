package engineio

import (
	"sync"
	"time"
)

// hbList is an intrusive doubly-linked list of connections, sorted by
// hbAt (earliest first).
type hbList struct {
	head, tail *Conn
}

// hbWhich names the list a connection is in: a byte beside the
// connection's flags rather than a pointer to the list.
type hbWhich uint8

const (
	hbNone hbWhich = iota // in no list
	hbPing                // waiting for its next ping (heartbeat.ping)
	hbPong                // pinged, waiting for the pong (heartbeat.pong)
)

// heartbeat drives the pings of every session of a Server with one
// goroutine and one timer. Each session sits in exactly one of two lists:
// waiting to be pinged (deadline = last pong + interval) or waiting for a
// pong (deadline = ping + timeout). Because the interval and the timeout
// are the same for every session, new deadlines land at (or very near)
// the tail, so every operation is O(1) in practice.
//
// It is kept apart from gateways/internal/deadline, the scheduler of SSE
// pings and token expiries, on purpose: with deadlines that only ever
// grow by a constant, a sorted list beats any heap, whose pong and sweep
// each cost a sift over O(log n) levels. Measured at 10,000 sessions
// (BenchmarkHeartbeatPong, BenchmarkHeartbeatCycle; 2 noisy cores): a pong
// ~60 ns here against ~125-135 ns on the deadline heap (binary or 4-ary),
// a whole ping-pong cycle ~100 ns against ~150-160 ns, both without
// allocation. The heap version is commit ca34b02 of branch tidy.
type heartbeat struct {
	interval, timeout time.Duration
	slack             time.Duration // deadlines this close are treated as due
	onPing            func(c *Conn) // called (without mu) when c is due a ping
	onTimeout         func(c *Conn) // called (without mu) when c missed its pong
	wake              chan struct{} // cap 1: the earliest deadline may have changed
	base              time.Time     // what Conn.hbAt counts from (with its monotonic reading)

	mu   sync.Mutex // guards the lists and the hb* fields of every Conn
	ping hbList
	pong hbList

	// scratch, used only by the run goroutine
	duePing, dueTimeout []*Conn
}

func newHeartbeat(interval, timeout time.Duration, onPing, onTimeout func(*Conn)) *heartbeat {
	slack := min(interval, timeout) / 64
	slack = min(slack, 5*time.Millisecond)
	return &heartbeat{
		interval:  interval,
		timeout:   timeout,
		slack:     slack,
		onPing:    onPing,
		onTimeout: onTimeout,
		wake:      make(chan struct{}, 1),
		base:      time.Now(),
	}
}

// schedulePing (re)schedules c's next ping at now+interval: called when a
// session opens and on every pong.
func (h *heartbeat) schedulePing(c *Conn) {
	h.mu.Lock()
	h.unlink(c)
	c.hbAt = h.since(time.Now()) + h.interval
	c.hbIn = hbPing
	h.insert(c)
	first := h.ping.head == c
	h.mu.Unlock()
	if first {
		h.poke()
	}
}

// remove takes c out of the heartbeat (session closed).
func (h *heartbeat) remove(c *Conn) {
	h.mu.Lock()
	h.unlink(c)
	h.mu.Unlock()
}

func (h *heartbeat) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// list returns the list w names, nil for hbNone.
func (h *heartbeat) list(w hbWhich) *hbList {
	switch w {
	case hbPing:
		return &h.ping
	case hbPong:
		return &h.pong
	}
	return nil
}

// insert puts c into its list (c.hbIn), keeping it sorted: walk back from
// the tail (new deadlines are almost always the latest).
func (h *heartbeat) insert(c *Conn) {
	l := h.list(c.hbIn)
	at := l.tail
	for at != nil && at.hbAt > c.hbAt {
		at = at.hbPrev
	}
	c.hbPrev = at
	if at == nil {
		c.hbNext = l.head
		l.head = c
	} else {
		c.hbNext = at.hbNext
		at.hbNext = c
	}
	if c.hbNext == nil {
		l.tail = c
	} else {
		c.hbNext.hbPrev = c
	}
}

func (h *heartbeat) unlink(c *Conn) {
	l := h.list(c.hbIn)
	if l == nil {
		return
	}
	if c.hbPrev == nil {
		l.head = c.hbNext
	} else {
		c.hbPrev.hbNext = c.hbNext
	}
	if c.hbNext == nil {
		l.tail = c.hbPrev
	} else {
		c.hbNext.hbPrev = c.hbPrev
	}
	c.hbPrev, c.hbNext, c.hbIn = nil, nil, hbNone
}

// next returns the earliest deadline, or false when no session is waiting.
func (h *heartbeat) next() (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var t time.Time
	ok := false
	if c := h.ping.head; c != nil {
		t, ok = h.base.Add(c.hbAt), true
	}
	if c := h.pong.head; c != nil && (!ok || h.base.Add(c.hbAt).Before(t)) {
		t, ok = h.base.Add(c.hbAt), true
	}
	return t, ok
}

// since returns t as a Conn.hbAt: the time from h.base to t.
func (h *heartbeat) since(t time.Time) time.Duration { return t.Sub(h.base) }

// run is the heartbeat goroutine; it returns when done is closed.
func (h *heartbeat) run(done <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if t, ok := h.next(); ok {
			timer.Reset(time.Until(t) - h.slack)
		} else {
			timer.Stop()
		}
		select {
		case <-done:
			return
		case <-h.wake:
		case <-timer.C:
		}
		h.fire(time.Now())
	}
}

// fire moves due pings to the pong list and collects timed-out sessions,
// then calls the callbacks without holding mu.
func (h *heartbeat) fire(now time.Time) {
	at := h.since(now)
	due := at + h.slack
	h.mu.Lock()
	for c := h.ping.head; c != nil && c.hbAt <= due; c = h.ping.head {
		h.unlink(c)
		sched := c.hbAt
		// The pong deadline counts from the scheduled ping, so a late wake-up
		// does not stretch the timeout, unless it was very late.
		c.hbAt = sched + h.timeout
		if at-sched > h.timeout/4 {
			c.hbAt = at + h.timeout
		}
		c.hbIn = hbPong
		h.insert(c)
		h.duePing = append(h.duePing, c)
	}
	for c := h.pong.head; c != nil && c.hbAt <= due; c = h.pong.head {
		h.unlink(c)
		h.dueTimeout = append(h.dueTimeout, c)
	}
	h.mu.Unlock()
	for i, c := range h.duePing {
		h.onPing(c)
		h.duePing[i] = nil
	}
	for i, c := range h.dueTimeout {
		h.onTimeout(c)
		h.dueTimeout[i] = nil
	}
	h.duePing, h.dueTimeout = h.duePing[:0], h.dueTimeout[:0]
}
