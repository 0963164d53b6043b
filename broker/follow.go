package broker

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Follower is a Log that other processes append to as well: several
// rtbroker nodes sharing one log (storage/jetstream). A Broker on a
// Follower makes an event visible when the log's own delivery reaches it,
// so subscribers on every node see every event, in offset order, once,
// whichever node committed it. bbolt and the memory log are not
// Followers: on them the Broker's own commits are all there is.
type Follower interface {
	Log
	// Follow calls fn, from one goroutine, with every event committed to
	// the log with an offset above after, in offset order and without
	// repeating one, this process's own appends included; it raises Head
	// to each batch's last offset before calling fn. An offset it skips is
	// an event removed (by retention) before it could be delivered, never
	// one it missed. It returns ctx.Err() when ctx ends, or the error that
	// stopped it (the caller follows again from where fn got to). fn must
	// not block for long; the slice and the events belong to fn.
	Follow(ctx context.Context, after uint64, fn func([]*Event)) error

	// LastOffset asks the log for the offset of its last committed event,
	// wherever it was committed (Head only knows what this process has
	// seen).
	LastOffset(ctx context.Context) (uint64, error)
}

// Relay carries ephemeral events (PublishEphemeral, Announce) between the
// processes that share a Follower log, without storing them. A Log that
// implements it is asked to send every ephemeral event, and the events
// other processes sent are fanned out to this broker's subscribers.
type Relay interface {
	// SendEphemeral hands ev to the other processes, best effort: it may
	// be lost (it is never logged). optedIn says that only subscribers
	// that opted in to the room's announcements receive it
	// (AnnounceOptIn). It must not block for long.
	SendEphemeral(ev *Event, optedIn bool) error

	// FollowEphemeral calls fn with each ephemeral event another process
	// sent (never this one's own), and its optedIn, until ctx ends, then
	// returns ctx.Err(), or the error that stopped it.
	FollowEphemeral(ctx context.Context, fn func(ev *Event, optedIn bool)) error
}

// followRetry and followRetryMax are the first and the longest wait
// before the Broker follows a Follower (or a Relay) again after it failed;
// the wait doubles while it keeps failing at once.
const (
	followRetry    = 250 * time.Millisecond
	followRetryMax = 5 * time.Second
)

// retry waits before following again after a failure of a follow that
// began at start (the wait, in *wait, doubles after a quick failure and
// starts over after a long run); it reports false when the broker closed.
func (b *Broker) retry(wait *time.Duration, start time.Time) bool {
	if time.Since(start) > 2*followRetryMax {
		*wait = followRetry
	}
	select {
	case <-time.After(*wait):
		*wait = min(2**wait, followRetryMax)
		return true
	case <-b.ctx.Done():
		return false
	}
}

// followWait bounds how long Subscribe and Subscription.Add wait for this
// node's tail to reach a position that the log has committed but this
// node has not yet been delivered (a client that moved from another
// node).
const followWait = 10 * time.Second

// follow delivers the Follower's events to the tail until Close. When
// Follow fails, it logs and follows again from the tail's head: at once
// after a stall (ErrStalled, logged at WARN), after a growing wait
// otherwise.
func (b *Broker) follow() {
	wait := followRetry
	for {
		start := time.Now()
		err := b.follower.Follow(b.ctx, b.Head().Offset, b.followed)
		if b.ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrStalled) {
			// A stall takes seconds to detect: no busy loop.
			b.cfg.Logger.Warn("the log's follower stalled; following again", "err", err, "head", b.Head().Offset)
			continue
		}
		b.cfg.Logger.Error("follow the log", "err", err, "head", b.Head().Offset)
		if !b.retry(&wait, start) {
			return
		}
	}
}

// followed adds events the Follower delivered: the ones at or below the
// head are visible already (this node's own commits); after a skipped
// offset the tail reads what it does not hold from the Log.
func (b *Broker) followed(evs []*Event) {
	b.mu.Lock()
	evs = b.aboveHead(evs)
	if len(evs) == 0 {
		b.mu.Unlock()
		return
	}
	b.addLocked(evs, &b.followNotify)
}

// aboveHead drops the events at or below the tail's head. With b.mu held.
func (b *Broker) aboveHead(evs []*Event) []*Event {
	i := 0
	for i < len(evs) && evs[i].Offset <= b.tail.head {
		i++
	}
	return evs[i:]
}

// addLocked adds evs to the tail, releases b.mu and wakes their rooms'
// subscribers and those waiting for the head to move. scratch is the
// caller's goroutine's scratch slice of subscribers to notify.
func (b *Broker) addLocked(evs []*Event, scratch *[]*Subscription) {
	*scratch = b.tail.add(evs, (*scratch)[:0])
	notify := *scratch
	if b.headMoved != nil {
		close(b.headMoved)
		b.headMoved = make(chan struct{})
	}
	b.mu.Unlock()
	for i, s := range notify {
		s.notify()
		notify[i] = nil
	}
}

// HeadAtLeast reports whether the head is at or past offset: whether a
// position a client brings (a Last-Event-ID, an after, a recovery token)
// names an event of this log. On a Follower, an offset this broker has
// not been delivered yet but the log has committed (the client got it from
// another node) counts: HeadAtLeast then waits, at most 10 s or until ctx
// ends, for the broker's head to reach it, so that Head() afterwards is at
// least offset. It reports false for an offset past the log's last event
// (a position from a recreated log), and when WaitHead cannot tell.
// Safe for concurrent use.
func (b *Broker) HeadAtLeast(ctx context.Context, offset uint64) bool {
	return b.WaitHead(ctx, offset) == nil
}

// WaitHead is HeadAtLeast that says why not: nil when the head is at or
// past offset (after a Follower's wait for it); an error wrapping
// ErrInvalid when offset is past the log's last event; an error wrapping
// ErrUnavailable when the answer may still be yes but is not known now:
// the log cannot tell its last offset (no quorum, a leader being
// elected) and this node's tail did not reach offset meanwhile, or the
// log committed offset but the tail did not get there within the wait
// (its follower is being restarted) or before ctx ended. A caller that
// can ask again later (a reconnecting client) tells the two apart.
func (b *Broker) WaitHead(ctx context.Context, offset uint64) error {
	if offset <= b.Head().Offset {
		return nil
	}
	if b.follower == nil {
		return fmt.Errorf("offset %d is past the head %d: %w", offset, b.Head().Offset, ErrInvalid)
	}
	last, err := b.follower.LastOffset(ctx)
	switch {
	case errors.Is(err, ErrUnavailable):
		// The log cannot tell: the tail may still be delivered that far.
	case err != nil:
		return fmt.Errorf("offset %d: the log's last offset: %w", offset, err)
	case offset > last:
		return fmt.Errorf("offset %d is past the log's last event %d: %w", offset, last, ErrInvalid)
	}
	if !b.waitHead(ctx, offset) {
		return fmt.Errorf("offset %d: this node's tail is at %d: %w", offset, b.Head().Offset, ErrUnavailable)
	}
	return nil
}

// beyondHead reports whether offset pos is past the head, or cannot be
// known to be reached now (see WaitHead).
func (b *Broker) beyondHead(ctx context.Context, pos uint64) bool {
	return b.WaitHead(ctx, pos) != nil
}

// catchUp waits until this node's tail holds every event the log had
// committed when it was called (at most followWait), so that a read of
// the log that follows sees what other nodes committed before it and the
// head it reports is not behind it. Nothing to do without a Follower, nor
// when the log cannot tell its last offset now (ErrUnavailable: its
// cluster lost quorum), so that reads go on.
func (b *Broker) catchUp(ctx context.Context) error {
	if b.follower == nil {
		return nil
	}
	last, err := b.follower.LastOffset(ctx)
	if errors.Is(err, ErrUnavailable) {
		return nil // the log cannot tell (no quorum): read what it has
	}
	if err != nil {
		return fmt.Errorf("catch up with the log: %w", err)
	}
	b.waitHead(ctx, last) // past the wait, the read goes on with what is there
	return nil
}

// waitHead waits until the tail's head is at least pos, at most
// followWait or until ctx ends or Close; it reports whether it is.
func (b *Broker) waitHead(ctx context.Context, pos uint64) bool {
	timer := time.NewTimer(followWait)
	defer timer.Stop()
	for {
		b.mu.RLock()
		head, moved := b.tail.head, b.headMoved
		b.mu.RUnlock()
		if pos <= head {
			return true
		}
		select {
		case <-moved:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		case <-b.closing:
			return false
		}
	}
}

// relayIn fans the ephemeral events other processes send out to this
// broker's subscribers until Close.
func (b *Broker) relayIn() {
	wait := followRetry
	for {
		start := time.Now()
		err := b.relay.FollowEphemeral(b.ctx, func(ev *Event, optedIn bool) { b.deliverEphemeral(ev, optedIn) })
		if b.ctx.Err() != nil {
			return
		}
		b.cfg.Logger.Error("follow ephemeral events", "err", err)
		if !b.retry(&wait, start) {
			return
		}
	}
}
