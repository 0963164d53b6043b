package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fleetSpec describes the subscribers one process runs: clients Lo..Hi-1
// of the run. Client i follows Rooms[i % len(Rooms)], connects to
// URLs[nodeOf(i, len(Rooms), len(URLs))] and dials from the source address
// Src + i/PerSrc, so the processes of a run never share more than PerSrc
// connections on an address.
type fleetSpec struct {
	URLs      []string `json:"urls"` // base URLs of the nodes
	Transport string   `json:"transport"`
	Rooms     []string `json:"rooms"`
	Lo        int      `json:"lo"`
	Hi        int      `json:"hi"`
	Src       string   `json:"src"`
	PerSrc    int      `json:"per_src"`
	// FromZero subscribes from offset 0 (the rooms are new, or replayed
	// whole); else from now (the Node peer has no history).
	FromZero bool `json:"from_zero"`
	// Expect is, for replay, how many events each client must receive to
	// be done; 0 for a live run.
	Expect uint64 `json:"expect"`
	// Latency records publish→deliver latency (not for replay).
	Latency          bool          `json:"latency"`
	Parallel         int           `json:"parallel"`
	ConnectTimeout   time.Duration `json:"connect_timeout"`
	ReconnectTimeout time.Duration `json:"reconnect_timeout"`
}

// fleetStats are a fleet's counters; a run merges those of its processes.
// Counters are cumulative since the fleet started, except Dropped and
// Resubscribed (since the last drop).
type fleetStats struct {
	Clients    int    `json:"clients"`
	Settled    int    `json:"settled"`    // past their first connection attempt
	Subscribed int    `json:"subscribed"` // subscribed now
	Failures   int64  `json:"failures"`   // first connections that failed
	Delivered  uint64 `json:"delivered"`  // distinct events received
	Duplicated uint64 `json:"duplicated"` // an offset at or below the last one
	// Behind is Σ over clients of the events of their room they have not
	// received (given the published counts; the final value is "missed").
	Behind uint64 `json:"behind"`
	// BehindByNode splits Behind by the node (base URL) the clients are
	// connected to, when the run has several; BehindClients counts the
	// clients behind.
	BehindByNode  map[string]uint64 `json:"behind_by_node,omitempty"`
	BehindClients int64             `json:"behind_clients"`
	// Skipped counts offsets a client jumped over between two events it
	// received, and SkipClients the clients that did: a sign of events
	// lost mid-stream only when nothing else publishes to the log while
	// one room is followed (its offsets are then consecutive).
	Skipped           uint64 `json:"skipped"`
	SkipClients       int64  `json:"skip_clients"`
	Disconnects       int64  `json:"disconnects"`        // not asked for
	ReconnectFailures int64  `json:"reconnect_failures"` // gave up reconnecting
	Unrecovered       int64  `json:"unrecovered"`        // Socket.IO recovery refused: re-joined
	Resets            int64  `json:"resets"`             // reset notices received
	Dropped           int64  `json:"dropped"`
	Resubscribed      int64  `json:"resubscribed"`
	LastResub         int64  `json:"last_resub"` // unix ns
	// Recovered counts the dropped clients that, once resubscribed, had
	// received every event of their room acknowledged to the publisher
	// before they resubscribed (what they missed), LastRecovered when the
	// last of them did (unix ns). Only fleets given the publisher's counts
	// (setAcked: in the load tool's own process) count them.
	Recovered     int64     `json:"recovered"`
	LastRecovered int64     `json:"last_recovered"`
	Done          int64     `json:"done"`      // replay: clients that got Expect events
	LastDone      int64     `json:"last_done"` // unix ns
	Errors        []string  `json:"errors,omitempty"`
	Latency       *Snapshot `json:"latency"`
	Connect       *Snapshot `json:"connect"`
	Replay        *Snapshot `json:"replay"` // per-client replay durations
}

// merge adds o into s.
func (s *fleetStats) merge(o *fleetStats) {
	s.Clients += o.Clients
	s.Settled += o.Settled
	s.Subscribed += o.Subscribed
	s.Failures += o.Failures
	s.Delivered += o.Delivered
	s.Duplicated += o.Duplicated
	s.Behind += o.Behind
	s.BehindClients += o.BehindClients
	s.Skipped += o.Skipped
	s.SkipClients += o.SkipClients
	for k, v := range o.BehindByNode {
		if s.BehindByNode == nil {
			s.BehindByNode = map[string]uint64{}
		}
		s.BehindByNode[k] += v
	}
	s.Disconnects += o.Disconnects
	s.ReconnectFailures += o.ReconnectFailures
	s.Unrecovered += o.Unrecovered
	s.Resets += o.Resets
	s.Dropped += o.Dropped
	s.Resubscribed += o.Resubscribed
	s.LastResub = max(s.LastResub, o.LastResub)
	s.Recovered += o.Recovered
	s.LastRecovered = max(s.LastRecovered, o.LastRecovered)
	s.Done += o.Done
	s.LastDone = max(s.LastDone, o.LastDone)
	for _, e := range o.Errors {
		if len(s.Errors) < maxErrors {
			s.Errors = append(s.Errors, e)
		}
	}
	for _, p := range []struct {
		dst **Snapshot
		src *Snapshot
	}{
		{&s.Latency, o.Latency}, {&s.Connect, o.Connect}, {&s.Replay, o.Replay},
	} {
		if *p.dst == nil {
			*p.dst = &Snapshot{}
		}
		(*p.dst).Merge(p.src)
	}
}

// maxErrors bounds the distinct error messages a fleet keeps.
const maxErrors = 5

// Client states.
const (
	stateConnecting int32 = iota
	stateLive
	stateDown   // reconnecting
	stateFailed // the first connection failed
	stateGone   // gave up reconnecting
)

// transport is one client's connection to the server over one protocol.
// connect and read run on the client's goroutine; the client closes the
// connection (from any goroutine) through the conns it tracks.
type transport interface {
	// connect opens a connection and subscribes (resuming after the
	// last event delivered, once there is one); it returns once
	// subscribed.
	connect(ctx context.Context) error
	// read delivers events until the connection fails.
	read() error
}

// endpoint is where a client connects: one node of the server.
type endpoint struct {
	url  string // the base URL it was made from
	addr string // host:port to dial
	host string // Host header
	path string // base path, without a trailing slash
}

// newEndpoint parses a base URL (http://host[:port][/path]).
func newEndpoint(base string) (*endpoint, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("--url %q: want http://host:port", base)
	}
	e := &endpoint{url: base, host: u.Host, addr: u.Host, path: strings.TrimSuffix(u.Path, "/")}
	if u.Port() == "" {
		e.addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return e, nil
}

// client is one subscriber. Its goroutine owns the transport and last.
type client struct {
	f    *fleet
	ep   *endpoint // the node it connects to
	idx  int
	room string
	ri   int // index of room in the spec
	src  int // index of the source address
	dial *net.Dialer
	t    transport

	last  uint64 // offset of the last event delivered
	start time.Time

	received atomic.Uint64
	// need is, after a resubscription, how many events the client must
	// have received to have recovered what it missed (0: nothing pending).
	need    atomic.Uint64
	dup     atomic.Uint64
	skipped atomic.Uint64 // offsets jumped over between two received events
	state   atomic.Int32
	dropped atomic.Bool // the connection is being closed on purpose
	settled atomic.Bool // past the first connection attempt

	mu    sync.Mutex // guards conns
	conns [2]net.Conn
}

// track records the connections to close on drop (or at once when the
// fleet is closing).
func (c *client) track(a, b net.Conn) {
	c.mu.Lock()
	c.conns = [2]net.Conn{a, b}
	c.mu.Unlock()
	if c.f.closing.Load() {
		c.closeConns()
	}
}

// closeConns closes the client's connections; safe from any goroutine.
func (c *client) closeConns() {
	if d, ok := c.t.(interface{ detach() }); ok {
		d.detach() // out of the livePoller before the descriptor is freed
	}
	c.mu.Lock()
	conns := c.conns
	c.conns = [2]net.Conn{}
	c.mu.Unlock()
	for _, nc := range conns {
		if nc != nil {
			nc.Close()
		}
	}
}

// deliver counts one received event of offset off sent at t (unix ns).
func (c *client) deliver(off uint64, t, now int64) {
	if off <= c.last {
		c.dup.Add(1)
		return
	}
	if c.last > 0 && off > c.last+1 {
		c.skipped.Add(off - c.last - 1)
	}
	c.last = off
	n := c.received.Add(1)
	f := c.f
	if nd := c.need.Load(); nd > 0 && n >= nd && c.need.CompareAndSwap(nd, 0) {
		f.noteRecovered(time.Now().UnixNano()) // not now: that may predate the resubscription's stamp
	}
	if f.spec.Latency && t > 0 {
		f.lat.Record(c.idx, now-t)
	}
	if e := f.spec.Expect; e > 0 && n == e {
		f.replay.Record(c.idx, now-c.start.UnixNano())
		f.done.Add(1)
		atomicMax(&f.lastDone, now)
	}
}

func atomicMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// run connects, then reads and reconnects until ctx ends.
func (c *client) run(ctx context.Context) {
	f := c.f
	err := c.connect(ctx)
	c.settled.Store(true)
	f.settled.Done()
	if err != nil {
		c.state.Store(stateFailed)
		if ctx.Err() == nil {
			f.failures.Add(1)
			f.noteErr("connect: " + err.Error())
		}
		return
	}
	f.connect.Record(c.idx, time.Since(c.start).Nanoseconds())
	c.state.Store(stateLive)
	for {
		err := c.t.read()
		c.state.Store(stateDown)
		c.closeConns()
		if ctx.Err() != nil {
			return
		}
		if !c.dropped.Swap(false) {
			f.disconnects.Add(1)
			f.noteErr("disconnected: " + err.Error())
		} else if a, ok := c.t.(interface{ abandon(context.Context) }); ok {
			a.abandon(ctx)
		}
		if err := c.reconnect(ctx); err != nil {
			c.state.Store(stateGone)
			if ctx.Err() == nil {
				f.reconnectFailures.Add(1)
				f.noteErr("reconnect: " + err.Error())
			}
			return
		}
		c.state.Store(stateLive)
		f.resubscribed.Add(1)
		atomicMax(&f.lastResub, time.Now().UnixNano())
		c.awaitMissed()
	}
}

// awaitMissed sets, after a resubscription, how many events the client
// must have received to have recovered every event of its room
// acknowledged so far, and counts it recovered at once when it has them
// already (the catch-up came with the CONNECT answer). deliver counts it
// otherwise.
func (c *client) awaitMissed() {
	acked := c.f.acked.Load()
	if acked == nil {
		return
	}
	nd := (*acked)(c.ri)
	c.need.Store(nd)
	if (nd == 0 || c.received.Load() >= nd) && c.need.CompareAndSwap(nd, 0) {
		c.f.noteRecovered(time.Now().UnixNano())
	}
}

// noteRecovered counts a dropped client recovered at now (unix ns).
func (f *fleet) noteRecovered(now int64) {
	f.recovered.Add(1)
	atomicMax(&f.lastRecovered, now)
}

// setAcked gives the fleet the publisher's count of acknowledged events
// per room (by spec room index), for Recovered.
func (f *fleet) setAcked(acked func(room int) uint64) { f.acked.Store(&acked) }

// connect makes one connection attempt, at most Parallel at a time per
// fleet; c.start is when the first one began (after waiting for its turn).
func (c *client) connect(ctx context.Context) error {
	f := c.f
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-f.sem }()
	if c.start.IsZero() {
		c.start = time.Now() // the first attempt: connect and replay times count from here
	}
	cctx, cancel := context.WithTimeout(ctx, f.spec.ConnectTimeout)
	defer cancel()
	err := c.t.connect(cctx)
	if err != nil {
		c.closeConns()
	}
	return err
}

// reconnect retries connect until it succeeds or ReconnectTimeout passes.
func (c *client) reconnect(ctx context.Context) error {
	deadline := time.Now().Add(c.f.spec.ReconnectTimeout)
	for {
		err := c.connect(ctx)
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-time.After(time.Duration(50+rand.IntN(100)) * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// fleet runs the subscribers of one process.
type fleet struct {
	spec    fleetSpec
	nodes   []*endpoint // one per spec.URLs
	clients []*client
	dialers map[int]*net.Dialer // by source address index
	bufs    *sync.Pool          // read buffers (*[]byte), shared by the clients
	poller  *livePoller         // reads live WebSocket clients (nil: readStream)

	lat, connect, replay *Recorder
	sem                  chan struct{}
	settled              sync.WaitGroup

	failures, disconnects, reconnectFailures, unrecovered, resets atomic.Int64
	dropped, resubscribed, lastResub, done, lastDone              atomic.Int64
	recovered, lastRecovered                                      atomic.Int64
	acked                                                         atomic.Pointer[func(room int) uint64] // see setAcked

	errMu  sync.Mutex // guards errors
	errors []string

	closing atomic.Bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startFleet starts the spec's clients; waitSettled tells when each has
// subscribed or failed.
func startFleet(spec fleetSpec) (*fleet, error) {
	f := &fleet{
		spec: spec, dialers: map[int]*net.Dialer{}, bufs: newBufPool(32 << 10),
		lat: NewRecorder(8), connect: NewRecorder(8), replay: NewRecorder(8),
		sem: make(chan struct{}, max(spec.Parallel, 1)),
	}
	if len(spec.Rooms) == 0 || len(spec.URLs) == 0 || spec.Hi < spec.Lo {
		return nil, fmt.Errorf("bad fleet spec: %d rooms, %d URLs, clients %d..%d", len(spec.Rooms), len(spec.URLs), spec.Lo, spec.Hi)
	}
	for _, u := range spec.URLs {
		e, err := newEndpoint(u)
		if err != nil {
			return nil, err
		}
		f.nodes = append(f.nodes, e)
	}
	base := net.ParseIP(spec.Src).To4()
	if spec.Src != "" && base == nil {
		return nil, fmt.Errorf("--src %q: want an IPv4 address", spec.Src)
	}
	for i := spec.Lo; i < spec.Hi; i++ {
		c := &client{f: f, idx: i, ri: i % len(spec.Rooms), ep: f.nodes[nodeOf(i, len(spec.Rooms), len(f.nodes))]}
		c.room = spec.Rooms[c.ri]
		if base != nil && spec.PerSrc > 0 {
			c.src = i / spec.PerSrc
		}
		if _, ok := f.dialers[c.src]; !ok {
			var ip net.IP
			if base != nil {
				ip = make(net.IP, 4)
				binary.BigEndian.PutUint32(ip, binary.BigEndian.Uint32(base)+uint32(c.src))
			}
			f.dialers[c.src] = newDialer(ip, spec.ConnectTimeout)
		}
		c.dial = f.dialers[c.src]
		switch spec.Transport {
		case "ws":
			c.t = newWSTransport(c)
		case "polling":
			c.t = newPollingTransport(c)
		case "sse":
			c.t = newSSETransport(c)
		case "longpoll":
			c.t = newLongpollTransport(c)
		default:
			return nil, fmt.Errorf("unknown transport %q", spec.Transport)
		}
		f.clients = append(f.clients, c)
	}
	if spec.Transport == "ws" {
		f.poller = newLivePoller()
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.settled.Add(len(f.clients))
	for _, c := range f.clients {
		f.wg.Go(func() { c.run(ctx) })
	}
	return f, nil
}

// waitSettled waits until every client has subscribed or failed.
func (f *fleet) waitSettled(ctx context.Context) error {
	done := make(chan struct{})
	go func() { f.settled.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fleet) noteErr(msg string) {
	if len(msg) > 300 {
		msg = msg[:300]
	}
	f.errMu.Lock()
	defer f.errMu.Unlock()
	if len(f.errors) >= maxErrors {
		return
	}
	for _, e := range f.errors {
		if e == msg {
			return
		}
	}
	f.errors = append(f.errors, msg)
}

// stats returns the counters; expected (one count per spec room, may be
// nil) is how many events each room's subscribers should have received,
// for Behind.
func (f *fleet) stats(expected []uint64) *fleetStats {
	s := &fleetStats{
		Clients:           len(f.clients),
		Failures:          f.failures.Load(),
		Disconnects:       f.disconnects.Load(),
		ReconnectFailures: f.reconnectFailures.Load(),
		Unrecovered:       f.unrecovered.Load(),
		Resets:            f.resets.Load(),
		Dropped:           f.dropped.Load(),
		Resubscribed:      f.resubscribed.Load(),
		LastResub:         f.lastResub.Load(),
		Recovered:         f.recovered.Load(),
		LastRecovered:     f.lastRecovered.Load(),
		Done:              f.done.Load(),
		LastDone:          f.lastDone.Load(),
		Latency:           f.lat.Snapshot(),
		Connect:           f.connect.Snapshot(),
		Replay:            f.replay.Snapshot(),
	}
	for _, c := range f.clients {
		st := c.state.Load()
		if st == stateLive {
			s.Subscribed++
		}
		if c.settled.Load() {
			s.Settled++
		}
		n := c.received.Load()
		s.Delivered += n
		s.Duplicated += c.dup.Load()
		if k := c.skipped.Load(); k > 0 {
			s.Skipped += k
			s.SkipClients++
		}
		if st != stateFailed && c.ri < len(expected) && expected[c.ri] > n {
			s.Behind += expected[c.ri] - n
			s.BehindClients++
			if len(f.nodes) > 1 {
				if s.BehindByNode == nil {
					s.BehindByNode = map[string]uint64{}
				}
				s.BehindByNode[c.ep.url] += expected[c.ri] - n
			}
		}
	}
	f.errMu.Lock()
	s.Errors = append([]string(nil), f.errors...)
	f.errMu.Unlock()
	return s
}

// drop closes every subscribed client's connection at once (the clients
// reconnect and resume) and returns how many were dropped. With close
// false it only expects the connections to break (the server is being
// restarted): their loss is not counted as a disconnect.
func (f *fleet) drop(close bool) int {
	f.resubscribed.Store(0)
	f.recovered.Store(0)
	n := 0
	for _, c := range f.clients {
		if c.state.Load() == stateLive {
			c.dropped.Store(true)
			n++
		}
	}
	f.dropped.Store(int64(n))
	if !close {
		return n
	}
	for _, c := range f.clients {
		if c.dropped.Load() {
			c.closeConns()
		}
	}
	return n
}

// close stops every client and waits for them.
func (f *fleet) close() {
	f.closing.Store(true)
	f.cancel()
	for _, c := range f.clients {
		c.closeConns()
	}
	f.wg.Wait()
	f.poller.close()
}
