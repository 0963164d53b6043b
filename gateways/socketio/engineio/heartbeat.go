package engineio

import (
	"time"

	"github.com/rtbroker/rtbroker/gateways/internal/deadline"
)

// heartbeat drives the pings of every session of a Server with one
// goroutine and one timer: a deadline.Scheduler in which each session has
// one entry (Conn.hb), due either for its next ping (last pong +
// interval) or for the pong of the ping it was sent (ping + timeout), as
// Conn.hbPong says. Rescheduling on a pong costs O(log n) and no
// allocation, and so does each session's sweep.
//
// (It was two sorted intrusive lists, in which a new deadline lands at the
// tail in O(1); the heap measured the same within the noise at 10,000
// sessions — see BenchmarkHeartbeatPong and BenchmarkHeartbeatCycle — so
// the gateways keep one scheduler.)
type heartbeat struct {
	interval, timeout time.Duration
	onPing            func(c *Conn) // called on the scheduler's goroutine when c is due a ping
	onTimeout         func(c *Conn) // called on the scheduler's goroutine when c missed its pong
	sched             *deadline.Scheduler[*Conn]
}

// newHeartbeat returns a heartbeat and starts its scheduler's goroutine;
// close stops it. Sessions due within a 64th of the shorter of interval
// and timeout (at most 5ms) of each other are served by one wake-up.
func newHeartbeat(interval, timeout time.Duration, onPing, onTimeout func(*Conn)) *heartbeat {
	h := &heartbeat{interval: interval, timeout: timeout, onPing: onPing, onTimeout: onTimeout}
	tick := min(min(interval, timeout)/64, 5*time.Millisecond)
	h.sched = deadline.New(deadline.Config{Tick: tick}, h.due)
	return h
}

// add starts c's heartbeat: its first ping is due after interval.
func (h *heartbeat) add(c *Conn) {
	c.hb.Value = c
	h.schedulePing(c)
}

// schedulePing (re)schedules c's next ping at now+interval: called when
// the session opens (add) and on every pong.
func (h *heartbeat) schedulePing(c *Conn) {
	c.hbPong.Store(false)
	h.sched.Reset(&c.hb, time.Now().Add(h.interval))
}

// remove takes c out of the heartbeat (session closed).
func (h *heartbeat) remove(c *Conn) {
	h.sched.Remove(&c.hb)
}

// close stops the heartbeat and waits for its goroutine.
func (h *heartbeat) close() {
	h.sched.Close()
}

// due is the scheduler's callback: c's ping or its pong deadline is due.
// A pong that comes while a ping is being sent reschedules the entry, and
// the scheduler then drops the pong deadline returned here; the flag set
// here may then say "waiting for a pong" until the next pong, which the
// ping just sent brings.
func (h *heartbeat) due(c *Conn, at, now time.Time) time.Time {
	if c.hbPong.Load() {
		h.onTimeout(c)
		return time.Time{}
	}
	c.hbPong.Store(true)
	h.onPing(c)
	// The pong deadline counts from the scheduled ping, so a late wake-up
	// does not stretch the timeout, unless it was very late.
	if now.Sub(at) > h.timeout/4 {
		return now.Add(h.timeout)
	}
	return at.Add(h.timeout)
}
