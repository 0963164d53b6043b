package conns

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtbroker/rtbroker/broker"
)

// Transport names, as Info.Transport and the metrics label them.
const (
	SSE      = "sse"
	LongPoll = "longpoll"
	SocketIO = "socketio"
)

// Conn is what a gateway registers for an open connection.
type Conn struct {
	Namespace string // Socket.IO namespace; "" for other transports
	User      string // the identity's Subject
	Remote    string // the client's network address, "IP:port"
	// Sub is the connection's subscription: its rooms and lag.
	Sub *broker.Subscription
	// Peer, when set, is the connection's own end: Entry.Disconnect calls
	// its Close once, after closing Done, and Entry.Engine its Transport.
	// Nil when the gateway watches Done itself. One interface rather than
	// two callbacks: an Engine.IO connection is its own Peer, with no
	// closure per connection.
	Peer Peer
}

// Peer is a connection as the registry acts on it.
type Peer interface {
	// Close ends the connection; it must not block.
	Close()
	// Transport names the connection's current underlying transport
	// (Engine.IO's polling or websocket), "" when it has none.
	Transport() string
}

// KickFunc is the Peer of a connection ended by calling the function (nil:
// nothing to call) that has no underlying transport to name.
type KickFunc func()

// Close calls f, unless it is nil.
func (f KickFunc) Close() {
	if f != nil {
		f()
	}
}

// Transport returns "".
func (KickFunc) Transport() string { return "" }

// Info is one connection as the admin API lists it. Rooms are log room
// names (a Socket.IO namespace's rooms with the namespace's prefix).
type Info struct {
	ID        string    `json:"id"`
	Transport string    `json:"transport"`
	Engine    string    `json:"engine,omitempty"`
	Namespace string    `json:"namespace,omitempty"`
	User      string    `json:"user"`
	Rooms     []string  `json:"rooms"`
	Lag       int       `json:"lag"`
	Remote    string    `json:"remote"`
	Since     time.Time `json:"since"`
}

// Entry is a registered connection. Its methods are safe for concurrent
// use.
type Entry struct {
	r      *Registry
	seq    uint64 // the number in the id, unique within the registry
	c      Conn
	since  int64       // when it was registered, in Unix nanoseconds (UTC; see Since)
	kicked atomic.Bool // set by the first Disconnect, which alone goes on
	// done is made by the first Done (most connections never need one) and
	// closed by Disconnect; guarded by r.mu (rarely taken for it, and a
	// mutex of its own would move Entry to the next size class).
	done chan struct{}
}

// closedDone is the Done of an entry disconnected before its first Done.
var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// ID returns the connection's id: the transport, a dash and a number
// unique within the process ("sse-12"). It is built on each call (an
// idle connection keeps no string for it).
func (e *Entry) ID() string { return e.r.transport + "-" + strconv.FormatUint(e.seq, 10) }

// Transport returns the registry's transport.
func (e *Entry) Transport() string { return e.r.transport }

// Namespace returns the connection's Socket.IO namespace ("" for other
// transports).
func (e *Entry) Namespace() string { return e.c.Namespace }

// Engine returns the connection's current underlying transport (see
// Peer.Transport); "" when there is none.
func (e *Entry) Engine() string {
	if e.c.Peer == nil {
		return ""
	}
	return e.c.Peer.Transport()
}

// Rooms returns the connection's rooms now (see Subscription.Rooms).
func (e *Entry) Rooms() []string { return e.c.Sub.Rooms() }

// Since returns when the connection was registered (UTC, without a
// monotonic reading).
func (e *Entry) Since() time.Time { return time.Unix(0, e.since).UTC() }

// Done is closed by Disconnect.
func (e *Entry) Done() <-chan struct{} {
	e.r.mu.Lock()
	defer e.r.mu.Unlock()
	if e.done == nil {
		if e.kicked.Load() { // a Disconnect that found no done, or finds closedDone
			e.done = closedDone
		} else {
			e.done = make(chan struct{})
		}
	}
	return e.done
}

// Kicked reports whether Disconnect was called.
func (e *Entry) Kicked() bool { return e.kicked.Load() }

// Disconnect ends the connection the transport's normal way: it closes
// Done and calls the Peer's Close, once. The gateway then closes the connection
// as it does at shutdown (the client reconnects and resumes) and removes
// the entry. A Disconnect that is not the first returns at once, even
// while the first is still closing.
func (e *Entry) Disconnect() {
	if !e.kicked.CompareAndSwap(false, true) {
		return
	}
	e.r.mu.Lock()
	if e.done != nil && e.done != closedDone {
		close(e.done)
	}
	e.r.mu.Unlock()
	if e.c.Peer != nil {
		e.c.Peer.Close()
	}
}

// Info returns the connection's description with its lag: the events of
// its rooms it has still to read, at most lagLimit per room (see
// Subscription.Lag); a lag the log could not count is -1.
func (e *Entry) Info(ctx context.Context, lagLimit int) Info {
	in := Info{
		ID: e.ID(), Transport: e.r.transport, Namespace: e.c.Namespace,
		User: e.c.User, Remote: e.c.Remote, Since: e.Since(),
		Rooms: e.c.Sub.Rooms(),
	}
	if in.Rooms == nil {
		in.Rooms = []string{}
	}
	in.Engine = e.Engine()
	in.Lag = e.Lag(ctx, lagLimit)
	return in
}

// Lag returns the events of the connection's rooms it has still to be
// sent, at most limit per room (see Subscription.Lag); -1 when the log
// could not count them.
func (e *Entry) Lag(ctx context.Context, limit int) int {
	lag, err := e.c.Sub.Lag(ctx, limit)
	if err != nil {
		return -1
	}
	return lag
}

// Registry is the set of a gateway's open connections. It is safe for
// concurrent use; the zero value is not usable: call New.
type Registry struct {
	transport string
	seq       atomic.Uint64

	mu sync.Mutex        // guards m and every Entry's done
	m  map[uint64]*Entry // by the number in the id (Entry.seq)
}

// New returns an empty registry of connections of transport.
func New(transport string) *Registry {
	return &Registry{transport: transport, m: make(map[uint64]*Entry)}
}

// Transport returns the registry's transport name.
func (r *Registry) Transport() string { return r.transport }

// Add registers an open connection; the gateway calls Remove when it
// ends.
func (r *Registry) Add(c Conn) *Entry {
	n := r.seq.Add(1)
	e := &Entry{r: r, seq: n, c: c, since: time.Now().UnixNano()}
	r.mu.Lock()
	r.m[n] = e
	r.mu.Unlock()
	return e
}

// Remove forgets e. Safe to call more than once.
func (r *Registry) Remove(e *Entry) {
	r.mu.Lock()
	if r.m[e.seq] == e {
		delete(r.m, e.seq)
	}
	r.mu.Unlock()
}

// Len returns how many connections are registered.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// Snapshot returns the registered connections, oldest first.
func (r *Registry) Snapshot() []*Entry {
	r.mu.Lock()
	out := make([]*Entry, 0, len(r.m))
	for _, e := range r.m {
		out = append(out, e)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b *Entry) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// Get returns the connection with id (as Entry.ID writes it), or nil.
func (r *Registry) Get(id string) *Entry {
	num, ok := strings.CutPrefix(id, r.transport+"-")
	if !ok {
		return nil
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != num { // "sse-012" is not "sse-12"
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[n]
}
