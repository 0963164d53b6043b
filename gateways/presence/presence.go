package presence

import (
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/internal/deadline"
)

// Event types the Registry sends (reserved: no client can publish them).
const (
	JoinEvent  = "presence:join"
	LeaveEvent = "presence:leave"
)

// Defaults of Config's fields; the command's flags default to these.
const (
	// DefaultMaxList is Config.MaxList's default.
	DefaultMaxList = 100
	// DefaultPollGrace is Config.PollGrace's default.
	DefaultPollGrace = 10 * time.Second
)

// Config configures a Registry. Zero values take the defaults.
type Config struct {
	// MaxList is the largest room whose members are listed: a Snapshot
	// of a room with more users carries counts only. Default
	// DefaultMaxList.
	MaxList int
	// PollGrace is how long a long-poll client stays present after its
	// last poll ended without a new one arriving. Default
	// DefaultPollGrace.
	PollGrace time.Duration
	// Events sends the presence:join and presence:leave events to every
	// subscriber of the room. Off (the default), they go only to the
	// subscriptions that asked for them (broker.Subscription.OptIn: the
	// gateways opt a client in when it joins with presence), as
	// Centrifugo's per-subscription joinLeave: clients that do not expect
	// the events (a long-poll client's held poll would be answered by
	// someone's arrival) do not receive them, and in a big room a join
	// does not cost every member a frame.
	Events bool
	// Store holds the counts. Default NewMemory().
	Store Store
	// Logger receives failures to announce. Default slog.Default().
	Logger *slog.Logger
}

// Registry tracks who is in which room over every transport and
// announces it: when a user's first connection to a room arrives, the
// room's subscribers that asked for presence events (all of them with
// Config.Events) are sent an ephemeral presence:join {user, count}
// (count: the users present after it), and when their last one goes,
// presence:leave {user, count}, through Broker.Announce (never logged).
// The events carry no list: a join costs the same bytes to each
// subscriber in a room of ten members or ten thousand. Anonymous
// connections are counted (Snapshot.Anonymous) and announce nothing.
//
// Every method is O(1) in the room's size but Snapshot (O(members) up to
// MaxList, O(1) above), and safe for concurrent use; a nil *Registry
// tracks nothing (Enter returns a nil *Conn, whose Leave does nothing).
// Events of one room are announced in the order the changes happened.
// Close it after the gateways that use it and before the broker.
type Registry struct {
	b   *broker.Broker
	cfg Config

	mu     sync.Mutex // guards the Store, polls and closed, and orders the announcements
	polls  map[pollKey]*poll
	closed bool

	sched *deadline.Scheduler[*poll] // the grace deadlines of long-poll clients
}

// New returns a Registry announcing through b. It starts the goroutine of
// its long-poll deadlines; Close stops it.
func New(b *broker.Broker, cfg Config) *Registry {
	if cfg.MaxList <= 0 {
		cfg.MaxList = DefaultMaxList
	}
	if cfg.PollGrace <= 0 {
		cfg.PollGrace = DefaultPollGrace
	}
	if cfg.Store == nil {
		cfg.Store = NewMemory()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Registry{b: b, cfg: cfg, polls: make(map[pollKey]*poll)}
	r.sched = deadline.New(deadline.Config{Tick: 100 * time.Millisecond}, r.pollExpired)
	return r
}

// Conn is one connection's presence in one room, from Enter until Leave.
type Conn struct {
	r    *Registry
	room string
	user string // "" for an anonymous connection
	t    Transport
	left atomic.Bool
}

// Enter records a connection of id to room (a log room name) over t and
// returns it; call Leave when the connection leaves the room or closes.
// After Close it records nothing.
func (r *Registry) Enter(room string, id auth.Identity, t Transport) *Conn {
	if r == nil {
		return nil
	}
	c := r.newConn(room, id, t)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.enterLocked(c)
	return c
}

// enterLocked adds c's count (nothing after Close). With r.mu held.
func (r *Registry) enterLocked(c *Conn) {
	if r.closed {
		c.left.Store(true)
		return
	}
	if c.user == "" {
		r.cfg.Store.AddAnonymous(c.room, 1)
		return
	}
	if first, count := r.cfg.Store.Add(c.room, c.user, c.t, time.Now()); first {
		r.announce(JoinEvent, c.room, c.user, count)
	}
}

func (r *Registry) newConn(room string, id auth.Identity, t Transport) *Conn {
	c := &Conn{r: r, room: room, t: t}
	if !id.Anonymous {
		c.user = id.Subject
	}
	return c
}

// EnterAll is Enter for each of rooms; the returned function leaves them
// all (and may be called more than once).
func (r *Registry) EnterAll(rooms []string, id auth.Identity, t Transport) (leave func()) {
	if r == nil {
		return func() {}
	}
	conns := make([]*Conn, len(rooms))
	for i, room := range rooms {
		conns[i] = r.Enter(room, id, t)
	}
	return func() {
		for _, c := range conns {
			c.Leave()
		}
	}
}

// Room returns the room (a log room name) the connection entered.
func (c *Conn) Room() string { return c.room }

// Leave removes the connection from its room; the first call counts, the
// others do nothing. Safe on a nil *Conn.
func (c *Conn) Leave() {
	if c == nil || !c.left.CompareAndSwap(false, true) {
		return
	}
	r := c.r
	r.mu.Lock()
	defer r.mu.Unlock()
	r.leaveLocked(c)
}

// leaveLocked removes c's count. With r.mu held.
func (r *Registry) leaveLocked(c *Conn) {
	if c.user == "" {
		r.cfg.Store.AddAnonymous(c.room, -1)
		return
	}
	if last, count := r.cfg.Store.Remove(c.room, c.user, c.t); last {
		r.announce(LeaveEvent, c.room, c.user, count)
	}
}

// Snapshot returns who is in room now (see Config.MaxList).
func (r *Registry) Snapshot(room string) Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg.Store.Snapshot(room, r.cfg.MaxList)
}

// MaxList returns the configured Config.MaxList.
func (r *Registry) MaxList() int { return r.cfg.MaxList }

// PollGrace returns the configured Config.PollGrace.
func (r *Registry) PollGrace() time.Duration { return r.cfg.PollGrace }

// Close ends the presence of every long-poll client at once (announcing
// their leaves) and stops the Registry's goroutine; afterwards nothing
// more is recorded. The connections of the other transports leave as
// their gateways close them, so close those first. Safe to call more
// than once.
func (r *Registry) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	for k, p := range r.polls {
		delete(r.polls, k)
		r.sched.Remove(&p.entry)
		p.conn.left.Store(true)
		r.leaveLocked(p.conn)
	}
	r.closed = true
	r.mu.Unlock()
	r.sched.Close()
}

// Departed announces, to this node's subscribers only, that user left
// room because the other node holding them stopped or died (every node
// learns it by itself); count is the room's users after it. It is
// Cluster.OnGone's function.
func (r *Registry) Departed(room, user string, count int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.send(true, LeaveEvent, room, user, count)
	}
}

// announce sends a presence event: {"user": user, "count": count}, from
// the user, to the room's subscribers that opted in (all of them with
// Config.Events). With r.mu held, so that a room's events keep their order
// (Announce does not block: it hands the event to each subscriber).
func (r *Registry) announce(typ, room, user string, count int) {
	r.send(false, typ, room, user, count)
}

// send sends a presence event as announce says, to this process's
// subscribers only when local (Broker.AnnounceLocal). With r.mu held.
func (r *Registry) send(local bool, typ, room, user string, count int) {
	if !r.cfg.Events && !r.b.HasOptIn(room) {
		return // nobody asked: not even the event is built
	}
	data := make([]byte, 0, len(user)+32)
	data = append(data, `{"user":`...)
	data = broker.AppendJSONString(data, user)
	data = append(data, `,"count":`...)
	data = strconv.AppendInt(data, int64(count), 10)
	data = append(data, '}')
	m := broker.Message{Room: room, Type: typ, Data: data, From: user}
	var err error
	switch {
	case local:
		_, err = r.b.AnnounceLocal(m, !r.cfg.Events)
	case r.cfg.Events:
		_, err = r.b.Announce(m)
	default:
		_, err = r.b.AnnounceOptIn(m)
	}
	if err != nil {
		r.cfg.Logger.Debug("presence: announce", "type", typ, "room", room, "err", err)
	}
}
