package jetstream

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtbroker/rtbroker/broker"
)

// Follow's stall watchdog: after a probe period without a delivery, Follow
// asks the stream (one direct get) whether it holds a message past the
// last one delivered; when it does and nothing is delivered for
// StallAfter more, Follow returns an error wrapping broker.ErrStalled, and
// the Broker follows again from its head on a new consumer. A follower
// that goes silent while the stream is ahead of it therefore recovers
// within StallAfter plus two probe periods (4 s) of the stream holding
// an event it has not delivered, instead of waiting for nats.go to notice
// missing heartbeats (10 s, then its own retries).
const (
	// StallAfter is how long Follow tolerates no delivery while the
	// stream is known to hold a later message.
	StallAfter = 2 * time.Second
	// stallProbe is the watchdog's period, and the bound of one probe.
	stallProbe = time.Second
)

// stallWatch is the state of one watchdog of Follow's (one on the
// stream's consumer, one on the watch of the trim watermarks); it belongs
// to Follow's goroutine.
type stallWatch struct {
	what string // names the watched delivery in the error: "follow", …
	// next returns the sequence of the first message at or after seq
	// that the watched delivery must deliver, 0 when there is none or no
	// answer within a probe period (the watchdog suspects nothing it
	// cannot see).
	next func(ctx context.Context, seq uint64) uint64

	count  uint64    // deliveries seen at the last tick
	since  time.Time // when a probe found the stream ahead; zero: not suspected
	ahead  uint64    // the sequence that probe found
	ticks  int       // ticks since then
	lastCE atomic.Pointer[error]
}

// consumeErr records an error nats.go reported about the consumer (it
// calls this with its own lock held: it must not block).
func (w *stallWatch) consumeErr(_ jetstream.ConsumeContext, err error) {
	w.lastCE.Store(&err)
}

// lastConsumeErr returns " (last consumer error: …)", or "" when nats.go
// reported none.
func (w *stallWatch) lastConsumeErr() string {
	if p := w.lastCE.Load(); p != nil {
		return fmt.Sprintf(" (last consumer error: %v)", *p)
	}
	return ""
}

// tick runs once a probe period with the number of deliveries so far and
// the last offset delivered; it returns an error wrapping
// broker.ErrStalled when the follower stalled.
func (w *stallWatch) tick(ctx context.Context, count, delivered uint64, now time.Time) error {
	if count != w.count {
		w.count, w.since, w.ticks = count, time.Time{}, 0
		return nil
	}
	if w.since.IsZero() {
		if seq := w.next(ctx, delivered+1); seq != 0 {
			w.since, w.ahead = now, seq
		}
		return nil
	}
	// Counted in ticks, not read off the clock: a tick a little early
	// must not cost a whole period more.
	if w.ticks++; w.ticks < int(StallAfter/stallProbe) {
		return nil
	}
	return fmt.Errorf("jetstream: %s: %w: nothing delivered after sequence %d for %s, though sequence %d is there to deliver%s",
		w.what, broker.ErrStalled, delivered, now.Sub(w.since).Round(time.Millisecond), w.ahead, w.lastConsumeErr())
}

// nextSeq returns the sequence of the first message of st at or after
// seq whose subject matches subject, or 0 when there is none or st does
// not answer within a probe period. It is one direct get, which any
// replica of the stream answers.
func nextSeq(ctx context.Context, st jetstream.Stream, subject string, seq uint64) uint64 {
	ctx, cancel := context.WithTimeout(ctx, stallProbe)
	defer cancel()
	m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
	if err != nil || m.Sequence < seq { // jetstream.ErrMsgNotFound, or no answer
		return 0
	}
	return m.Sequence
}

// followWatch is the watchdog of Follow's consumer: the stream's events.
func (l *Log) followWatch() *stallWatch {
	return &stallWatch{what: "follow", next: func(ctx context.Context, seq uint64) uint64 {
		return nextSeq(ctx, l.stream, l.cfg.Subject+".*", seq)
	}}
}

// marksWatch is the watchdog of Follow's watch of the trim watermarks:
// the meta bucket's "w." keys (a watch is an ordered consumer too, and
// stalls as Follow's does when the server holding it dies).
func (l *Log) marksWatch() *stallWatch {
	subject := "$KV." + l.cfg.Stream + "_meta." + markPrefix + ">"
	return &stallWatch{what: "watch trim watermarks", next: func(ctx context.Context, seq uint64) uint64 {
		return nextSeq(ctx, l.metaStream, subject, seq)
	}}
}

// stopLater stops cc on a goroutine that Close waits for: nats.go's Stop
// waits while the ordered consumer is being recreated (up to one attempt
// of 10 s and its backoff), which must not hold off the next Follow, on a
// new consumer, after a stall. Once the Log is closed, it stops cc itself.
func (l *Log) stopLater(cc jetstream.ConsumeContext) {
	l.mu.RLock()
	closed := l.closed
	if !closed {
		l.stopping.Add(1) // before Close's Wait: Close takes mu to wait
	}
	l.mu.RUnlock()
	if closed {
		cc.Stop()
		return
	}
	go func() {
		defer l.stopping.Done()
		cc.Stop()
	}()
}
