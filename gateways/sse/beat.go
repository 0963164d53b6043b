package sse

import (
	"sync"
	"time"

	"github.com/rtbroker/rtbroker/gateways/internal/iheap"
)

// beats schedules the heartbeats and token deadlines of the hijacked
// streams with one goroutine and one timer (Handler.sweep) instead of a
// timer per stream. Streams sit in a heap ordered by the time the sweeper
// looks at them next (beatKey): their heartbeat is due (the last write plus
// Heartbeat, less a little slack so that streams due together are served
// together) or their token's deadline passes. A write only stores its time
// in the stream (conn.lastWrite); the key is a lower bound that the sweeper
// moves forward when it finds the stream was written since, so a busy
// stream costs the sweeper one look per Heartbeat.
type beats struct {
	interval time.Duration // Config.Heartbeat
	slack    time.Duration // pings may go out this much early
	wake     chan struct{} // cap 1: the earliest key may have moved earlier

	mu      sync.Mutex         // guards the fields below and every conn's beat fields
	heap    *iheap.Heap[*conn] // by beatKey
	closing bool               // the handler is closing: new streams are woken at once
}

func (b *beats) init(interval time.Duration) {
	b.interval = interval
	b.slack = min(interval/16, 250*time.Millisecond)
	b.wake = make(chan struct{}, 1)
	b.heap = iheap.New(func(x, y *conn) bool { return x.beatKey < y.beatKey }, func(c *conn, i int) { c.beatIdx = i })
}

// key is when the sweeper should look at c next: its next heartbeat or its
// token's deadline, whichever comes first.
func (b *beats) key(c *conn) int64 {
	k := c.lastWrite.Load() + int64(b.interval-b.slack)
	if !c.expires.IsZero() {
		k = min(k, c.expires.UnixNano())
	}
	return k
}

// add schedules a new stream. When the handler is closing already, the
// stream is made ready at once (to end).
func (b *beats) add(c *conn) {
	b.mu.Lock()
	c.beatKey = b.key(c)
	b.heap.Push(c)
	first := c.beatIdx == 0
	closing := b.closing
	b.mu.Unlock()
	if closing {
		c.task.Ready()
	}
	if first {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

// remove forgets an ended stream. Idempotent.
func (b *beats) remove(c *conn) {
	b.mu.Lock()
	if c.beatIdx >= 0 {
		b.heap.Remove(c.beatIdx)
	}
	b.mu.Unlock()
}

// due makes ready the streams whose key has come and re-keys them, and
// returns how long until the next key.
func (b *beats) due(now time.Time, ready []*conn) ([]*conn, time.Duration) {
	n := now.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.heap.Len() > 0 && b.heap.Min().beatKey <= n {
		c := b.heap.Min()
		if k := b.key(c); k > n {
			c.beatKey = k // written since: not due yet
		} else {
			ready = append(ready, c)
			// Next look: a heartbeat after the ping the step is about to
			// write (a deadline that has passed is the step's to act on).
			c.beatKey = n + int64(b.interval-b.slack)
		}
		b.heap.Fix(0)
	}
	if b.heap.Len() == 0 {
		return ready, time.Hour
	}
	return ready, time.Duration(b.heap.Min().beatKey - n)
}

// closeAll marks the handler closing and returns every stream, to be
// made ready so that they end.
func (b *beats) closeAll() []*conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closing = true
	return b.heap.Items()
}

// sweep is the heartbeat goroutine of the hijacked streams: it makes them
// ready when a heartbeat or their token's deadline is due, and all of them
// once the handler starts closing. It returns when the handler's context
// ends (after every stream has ended).
func (h *Handler) sweep() {
	b := &h.beats
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	closing := h.t.Closing()
	// Waking up for each stream separately would cost a timer per stream
	// again: streams due within tick of each other are served together.
	tick := max(b.slack/4, time.Millisecond)
	var ready []*conn
	for {
		var wait time.Duration
		ready, wait = b.due(time.Now(), ready[:0])
		for i, c := range ready {
			c.task.Ready()
			ready[i] = nil
		}
		timer.Reset(max(wait, tick))
		select {
		case <-h.ctx.Done():
			return
		case <-closing:
			closing = nil
			for _, c := range b.closeAll() {
				c.task.Ready()
			}
		case <-b.wake:
		case <-timer.C:
		}
	}
}
