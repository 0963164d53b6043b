// Package typing keeps "is typing…" indicators honest: it remembers who
// is typing in which room and sends the room a `typing:stop` on the
// typist's behalf when the typist goes silent (no `typing:start` within
// the timeout) or its connection goes away, so that no indicator stays on
// forever because a client crashed or lost its network.
//
// Typing events are ephemeral (broker.PublishEphemeral): never logged,
// no offset, sent to the room's current subscribers. A Tracker serves
// every gateway that takes typing events (Socket.IO's typing:start and
// typing:stop, and an ephemeral typing:start published over HTTP), with
// one deadline scheduler (gateways/internal/deadline: one goroutine, one
// timer) for all typists. It is owned by whoever created it, which closes
// it after the gateways that use it.
package typing

import (
	"fmt"
	"sync"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/internal/deadline"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
)

// The event types of typing indicators.
const (
	StartType = "typing:start"
	StopType  = "typing:stop"
)

// IsTyping reports whether typ is StartType or StopType.
func IsTyping(typ string) bool { return typ == StartType || typ == StopType }

// The defaults of Config's fields; the command's flags default to these.
const (
	// DefaultTimeout is how long a typist stays typing after its last
	// typing:start: clients send one every few seconds while the user
	// types (2–3 s is usual).
	DefaultTimeout = 5 * time.Second
	// DefaultMaxTypists bounds the typists tracked at once (a typist is a
	// user in a room: about 150 bytes).
	DefaultMaxTypists = 100_000
)

// Reasons a server-sent typing:stop carries in its data ({"reason": …}).
const (
	ReasonTimeout    = "timeout"    // no typing:start within the timeout
	ReasonDisconnect = "disconnect" // the typist's connection went away
)

// Config configures a Tracker. Zero values take the defaults.
type Config struct {
	// Timeout is how long after its last typing:start a typist is stopped
	// by the server. Default DefaultTimeout.
	Timeout time.Duration
	// MaxTypists caps the typists tracked at once; a typing:start over it
	// is refused with a rate_limited error (retry after Timeout, when
	// slots have freed). Default DefaultMaxTypists.
	MaxTypists int
	// Tick groups the server's stops: typists timing out within Tick of
	// each other are stopped together, at most Tick late. Default 100 ms.
	Tick time.Duration
}

// key is a typist: a user (an event's `from`) in a room (a log room).
type key struct{ room, from string }

// typist is one tracked typist.
type typist struct {
	key
	owner any                     // the connection that last started it (nil: none, e.g. HTTP)
	until time.Time               // when it times out; guarded by Tracker.mu
	entry deadline.Entry[*typist] // in Tracker.sched
}

// Tracker tracks typists and stops them. It is safe for concurrent use.
// New starts its scheduler's goroutine; Close stops it.
type Tracker struct {
	b     *broker.Broker
	cfg   Config
	sched *deadline.Scheduler[*typist]

	mu      sync.Mutex // guards typists, owned and every typist's owner and until
	typists map[key]*typist
	owned   map[any]map[key]struct{} // the typists each connection last started
}

// New returns a Tracker that publishes the server's typing:stop events to
// b, and starts its scheduler.
func New(b *broker.Broker, cfg Config) *Tracker {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxTypists <= 0 {
		cfg.MaxTypists = DefaultMaxTypists
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	t := &Tracker{b: b, cfg: cfg, typists: make(map[key]*typist), owned: make(map[any]map[key]struct{})}
	t.sched = deadline.New(deadline.Config{Tick: cfg.Tick}, t.expire)
	return t
}

// Timeout returns how long a typist stays typing after its last start.
func (t *Tracker) Timeout() time.Duration { return t.cfg.Timeout }

// Start records that from is typing in room, on the connection owner (any
// comparable value, such as a socket; nil for none), until Timeout from
// now: call it before sending the typing:start, and Forget if that fails.
// A typist that is already typing is prolonged. Over MaxTypists it
// returns a *wire.RateLimited error and records nothing.
func (t *Tracker) Start(room, from string, owner any) error {
	k := key{room, from}
	until := time.Now().Add(t.cfg.Timeout)
	t.mu.Lock()
	defer t.mu.Unlock()
	ty := t.typists[k]
	if ty == nil {
		if len(t.typists) >= t.cfg.MaxTypists {
			return &wire.RateLimited{Wait: t.cfg.Timeout, Message: fmt.Sprintf("too many typists (%d), retry later", t.cfg.MaxTypists)}
		}
		ty = &typist{key: k}
		ty.entry.Value = ty
		t.typists[k] = ty
	}
	t.own(ty, owner)
	ty.until = until
	t.sched.Reset(&ty.entry, until)
	return nil
}

// own makes owner the connection of ty. With mu held.
func (t *Tracker) own(ty *typist, owner any) {
	if ty.owner == owner {
		return
	}
	t.disown(ty)
	ty.owner = owner
	if owner != nil {
		if t.owned[owner] == nil {
			t.owned[owner] = make(map[key]struct{})
		}
		t.owned[owner][ty.key] = struct{}{}
	}
}

// disown removes ty from its owner's set. With mu held.
func (t *Tracker) disown(ty *typist) {
	if ty.owner == nil {
		return
	}
	set := t.owned[ty.owner]
	delete(set, ty.key)
	if len(set) == 0 {
		delete(t.owned, ty.owner)
	}
	ty.owner = nil
}

// Forget stops tracking from in room without sending anything: the
// typist sent its own typing:stop (call Forget first, so that the
// server's stop cannot follow it), or its typing:start failed.
func (t *Tracker) Forget(room, from string) {
	t.mu.Lock()
	t.remove(key{room, from})
	t.mu.Unlock()
}

// remove forgets the typist k, if tracked, and reports whether it was.
// With mu held.
func (t *Tracker) remove(k key) bool {
	ty := t.typists[k]
	if ty == nil {
		return false
	}
	delete(t.typists, k)
	t.disown(ty)
	t.sched.Remove(&ty.entry)
	return true
}

// Gone stops every typist that owner (a connection that went away,
// abruptly or not) last started: each room gets a typing:stop from its
// typist with {"reason": "disconnect"}.
func (t *Tracker) Gone(owner any) {
	if owner == nil {
		return
	}
	t.mu.Lock()
	var keys []key
	for k := range t.owned[owner] {
		keys = append(keys, k)
	}
	for _, k := range keys {
		t.remove(k)
	}
	t.mu.Unlock()
	for _, k := range keys {
		t.stop(k, ReasonDisconnect)
	}
}

// Typists returns how many typists are tracked.
func (t *Tracker) Typists() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.typists)
}

// expire is the scheduler's callback: ty's deadline came. It stops ty
// unless a typing:start prolonged it meanwhile (then it fires again at
// the new deadline) or it was forgotten.
func (t *Tracker) expire(ty *typist, _, now time.Time) time.Time {
	t.mu.Lock()
	if t.typists[ty.key] != ty {
		t.mu.Unlock()
		return time.Time{}
	}
	if now.Before(ty.until) {
		until := ty.until
		t.mu.Unlock()
		return until
	}
	t.remove(ty.key)
	t.mu.Unlock()
	t.stop(ty.key, ReasonTimeout)
	return time.Time{}
}

// stop sends the room a typing:stop from the typist. A closed broker
// sends nothing (its subscribers are gone too).
func (t *Tracker) stop(k key, reason string) {
	data := fmt.Appendf(nil, `{"reason":%q}`, reason)
	t.b.PublishEphemeral(broker.Message{Room: k.room, Type: StopType, Data: data, From: k.from}) //nolint:errcheck // only ErrClosed: nobody to tell
}

// Close stops the scheduler: no typing:stop is sent afterwards. Close it
// after the gateways that use it, before the broker. Safe to call more
// than once.
func (t *Tracker) Close() { t.sched.Close() }
