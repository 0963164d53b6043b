package sse

import (
	"sync/atomic"
	"time"

	"github.com/rtbroker/rtbroker/gateways/internal/deadline"
)

// beats schedules the heartbeats and token deadlines of the hijacked
// streams on one deadline.Scheduler (one goroutine and one timer for all
// streams, no timer per stream). A stream's entry is due when the sweeper
// should look at it next (key): its heartbeat (the last write plus
// Heartbeat, less a little slack so that streams due together are served
// together) or its token's deadline, whichever comes first. A write only
// stores its time in the stream (conn.lastWrite); the entry's deadline is
// a lower bound that the callback moves forward when it finds the stream
// was written since, so a busy stream costs the scheduler one look per
// Heartbeat.
type beats struct {
	interval time.Duration // Config.Heartbeat
	slack    time.Duration // pings may go out this much early
	sched    *deadline.Scheduler[*conn]
	closing  atomic.Bool // the handler is closing: every stream is made ready, new ones at once
}

// init starts the scheduler; close stops it. Streams due within a
// quarter of the slack (at least 1ms) of each other are served by one
// wake-up.
func (b *beats) init(interval time.Duration) {
	b.interval = interval
	b.slack = min(interval/16, 250*time.Millisecond)
	b.sched = deadline.New(deadline.Config{Tick: max(b.slack/4, time.Millisecond)}, b.due)
}

// key is when the sweeper should look at c next: its next heartbeat or its
// token's deadline, whichever comes first.
func (b *beats) key(c *conn) time.Time {
	k := time.Unix(0, c.lastWrite.Load()).Add(b.interval - b.slack)
	if !c.expires.IsZero() && c.expires.Before(k) {
		k = c.expires
	}
	return k
}

// add schedules a new stream. When the handler is closing already, the
// stream is made ready at once (to end).
func (b *beats) add(c *conn) {
	c.beat.Value = c
	b.sched.Reset(&c.beat, b.key(c))
	if b.closing.Load() { // after Reset: else closeAll makes it ready
		c.task.Ready()
	}
}

// remove forgets an ended stream. Idempotent.
func (b *beats) remove(c *conn) {
	b.sched.Remove(&c.beat)
}

// due is the scheduler's callback: c's key has come. It makes c ready
// when its heartbeat or deadline is due (or the handler is closing), and
// returns when to look at it next.
func (b *beats) due(c *conn, _, now time.Time) time.Time {
	if k := b.key(c); k.After(now) && !b.closing.Load() {
		return k // written since: not due yet
	}
	c.task.Ready()
	// Next look: a heartbeat after the ping the step is about to write (a
	// deadline that has passed is the step's to act on).
	return now.Add(b.interval - b.slack)
}

// closeAll marks the handler closing and makes every stream ready, so
// that they end.
func (b *beats) closeAll() {
	b.closing.Store(true)
	b.sched.FireAll()
}

// watchClosing is a goroutine of the Handler: when Close begins it makes
// every hijacked stream ready (to end). It returns then, or when the
// handler's context ends.
func (h *Handler) watchClosing() {
	select {
	case <-h.t.Closing():
		h.beats.closeAll()
	case <-h.ctx.Done():
	}
}
