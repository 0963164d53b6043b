package front

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtbroker/rtbroker/gateways/internal/rawio"
	"github.com/rtbroker/rtbroker/gateways/internal/warm"
)

// Route reports whether the front serves a request itself: its method,
// its path as sent (the request target before any '?') and its header
// fields. It is called once per request head that parsed; it must not
// keep h.
type Route func(method, path string, h http.Header) bool

// Listener is a net.Listener for an http.Server that serves the requests
// Route picks itself and returns every other connection from Accept,
// with what was read of it, for the server to serve. It reads the
// server's Handler, ConnContext, ConnState, ReadHeaderTimeout and
// IdleTimeout: set them before New. Close (which http.Server calls at
// Shutdown) stops accepting; Shutdown ends the connections the front
// serves.
type Listener struct {
	net.Listener
	srv          *http.Server
	route        Route
	writeTimeout time.Duration

	in   chan acceptResult // connections for net/http, and accept errors
	done chan struct{}     // closed by Close
	once sync.Once
	wg   sync.WaitGroup // the accepting goroutine and one per connection served

	bufs    sync.Pool                // *[bufSize]byte: request heads
	answers sync.Pool                // *[]byte: answers
	date    atomic.Pointer[dateText] // the Date field of this second

	mu       sync.Mutex         // guards conns and draining
	conns    map[*conn]struct{} // connections the front serves
	draining bool               // Shutdown started: no more requests
}

type acceptResult struct {
	c   net.Conn
	err error
}

// bufSize is the buffer a connection's request heads are read into: a
// head that does not fit goes to net/http (whose limit is 1 MB).
const bufSize = 4096

// New returns a Listener accepting from l for srv, serving the requests
// route picks; the answers it writes get writeTimeout (0: none). It
// starts accepting at once: wire srv first.
func New(l net.Listener, srv *http.Server, route Route, writeTimeout time.Duration) *Listener {
	fl := &Listener{
		Listener:     l,
		srv:          srv,
		route:        route,
		writeTimeout: writeTimeout,
		in:           make(chan acceptResult),
		done:         make(chan struct{}),
		conns:        make(map[*conn]struct{}),
	}
	fl.wg.Go(fl.accept)
	return fl
}

// accept is the goroutine that accepts from the wrapped listener until
// it is closed, starting a connection's goroutine for each.
func (l *Listener) accept() {
	for {
		nc, err := l.Listener.Accept()
		if err == nil {
			if !l.start(nc) {
				nc.Close()
			}
			continue
		}
		select {
		case l.in <- acceptResult{err: err}: // http.Server pauses on temporary errors, returns on others
		case <-l.done:
			return
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// start registers nc and starts its goroutine; false once draining.
// The hooks hear of it here, in accept order, as net/http's accept loop
// calls them (the per-address cap counts connections in that order).
func (l *Listener) start(nc net.Conn) bool {
	c := &conn{l: l, nc: nc, ctx: context.Background()}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.draining {
		return false
	}
	if f := l.srv.ConnContext; f != nil {
		c.ctx = f(c.ctx, nc)
	}
	c.state(http.StateNew)
	l.conns[c] = struct{}{}
	warm.Go(&l.wg, c.serve)
	return true
}

// Accept implements net.Listener: a connection for net/http, with the
// bytes the front read of it in front.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case r := <-l.in:
		return r.c, r.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener: no more connections are accepted.
// Connections the front serves are ended by Shutdown. Only the first
// call closes; later ones return nil.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		err = l.Listener.Close()
		close(l.done)
	})
	return err
}

// Shutdown stops serving requests: a connection waiting for its next
// request, or still reading its head, is closed at once (a request not
// served yet is not served), one serving a request once its answer is
// written (with Connection: close). It waits for them until ctx ends, then
// closes what is left and returns ctx's error. Call it beside
// http.Server.Shutdown (or after Close).
func (l *Listener) Shutdown(ctx context.Context) error {
	l.Close()
	l.mu.Lock()
	l.draining = true
	for c := range l.conns {
		if !c.busy.Load() {
			c.nc.SetReadDeadline(time.Now()) // its read returns; serve sees draining
		}
	}
	l.mu.Unlock()
	ended := make(chan struct{})
	go func() { l.wg.Wait(); close(ended) }()
	select {
	case <-ended:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	for c := range l.conns {
		c.nc.Close()
	}
	l.mu.Unlock()
	<-ended
	return ctx.Err()
}

// isDraining reports whether Shutdown has started.
func (l *Listener) isDraining() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.draining
}

// handOff gives nc, with prefix read of it already, to net/http; false
// when the listener is closed (the caller closes nc).
func (l *Listener) handOff(nc net.Conn, prefix []byte) bool {
	if len(prefix) > 0 {
		nc = rawio.Prefixed(nc, prefix)
	}
	select {
	case l.in <- acceptResult{c: nc}:
		return true
	case <-l.done:
		return false
	}
}

// conn is a connection the front serves.
type conn struct {
	l      *Listener
	nc     net.Conn
	remote string
	ctx    context.Context // from the server's ConnContext
	busy   atomic.Bool     // serving a request (its head is read)

	// Owned by serve's goroutine: the socket's deadlines as last set, so
	// that one a second early is kept instead of set again (a deadline
	// costs a timer update), and the body's read deadline the handler
	// asked for (set on the socket only when the body is read from it).
	rdl, wdl time.Time
	bodyDL   time.Time
	host     string    // the last request's Host, a string of its own
	fields   fieldBufs // the request's header fields
	x        *exchange // the request and its answer
}

// deadlineSlack is how much earlier than asked a deadline the front set
// may be kept.
const deadlineSlack = time.Second

// setRead sets the socket's read deadline to t, or keeps the one set if
// it is at most deadlineSlack before t (unless exact).
func (c *conn) setRead(t time.Time, exact bool) {
	if t.Equal(c.rdl) || !exact && slackOK(c.rdl, t) {
		return
	}
	c.nc.SetReadDeadline(t)
	c.rdl = t
}

// setWrite is setRead for the write deadline.
func (c *conn) setWrite(t time.Time) {
	if t.Equal(c.wdl) || slackOK(c.wdl, t) {
		return
	}
	c.nc.SetWriteDeadline(t)
	c.wdl = t
}

// slackOK reports whether the deadline set may stand for want.
func slackOK(set, want time.Time) bool {
	return !set.IsZero() && !want.IsZero() && !set.After(want) && want.Sub(set) < deadlineSlack
}

// clearDeadlines lifts the socket's deadlines, for its next owner.
func (c *conn) clearDeadlines() {
	if !c.rdl.IsZero() || !c.wdl.IsZero() {
		c.nc.SetDeadline(time.Time{})
		c.rdl, c.wdl = time.Time{}, time.Time{}
	}
}

// state calls the server's ConnState hook.
func (c *conn) state(st http.ConnState) {
	if f := c.l.srv.ConnState; f != nil {
		f(c.nc, st)
	}
}

// serve reads and serves c's requests until one is not the front's
// (handed to net/http), the connection is hijacked, or it ends.
func (c *conn) serve() {
	buf, _ := c.l.bufs.Get().(*[bufSize]byte)
	if buf == nil {
		buf = new([bufSize]byte)
	}
	defer func() {
		c.l.bufs.Put(buf)
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	}()
	c.remote = c.nc.RemoteAddr().String()
	n, first := 0, true
	for {
		end, st := c.readHead(buf[:], &n, first)
		switch st {
		case headClosed:
			c.close()
			return
		case headHandedOff:
			return
		}
		c.busy.Store(true)
		if c.l.isDraining() { // not served: the client may send it again elsewhere
			c.close()
			return
		}
		h, parsed := parseHead(buf[:end], &c.fields)
		if !parsed || !c.l.route(h.method, pathOf(h.target), h.header) {
			c.handOff(buf[:n])
			return
		}
		h.host = c.hostOf(h.host)
		rest, keep, hijacked := c.serveRequest(h, buf[end:n])
		if hijacked {
			return
		}
		c.fields.reset()
		if !keep || c.l.isDraining() {
			c.close()
			return
		}
		n = copy(buf[:], rest)
		first = false
		c.busy.Store(false)
		c.state(http.StateIdle)
	}
}

// hostOf returns host as a string of its own (host is a substring of the
// head's fields, which a WebSocket session keeping its handshake's Host
// must not keep), the last request's when they are equal: one allocation
// per connection, not per request.
func (c *conn) hostOf(host string) string {
	if host != c.host {
		c.host = strings.Clone(host)
	}
	return c.host
}

// handOff gives the connection, with prefix read of it, to net/http.
func (c *conn) handOff(prefix []byte) {
	c.clearDeadlines()
	c.state(http.StateClosed) // for the hooks: net/http opens it anew
	if !c.l.handOff(c.nc, prefix) {
		c.nc.Close()
	}
}

// What readHead found.
const (
	headRead      = iota // a whole head
	headClosed           // the connection ended or timed out: close it
	headHandedOff        // too long a head: net/http has the connection
)

// readHead reads into buf after its first *n bytes until buf holds a
// whole head, and returns the head's length. It reports false when the
// connection ended, timed out, or sent a head longer than buf (such a
// head is handed to net/http, which answers it). The first request of a
// connection has ReadHeaderTimeout from the accept; a later one waits
// IdleTimeout for its first byte, then ReadHeaderTimeout. The connection
// is active (for the ConnState hook) from a request's first byte.
func (c *conn) readHead(buf []byte, n *int, first bool) (int, int) {
	srv := c.l.srv
	if end := headEnd(buf[:*n]); end >= 0 {
		c.state(http.StateActive)
		return end, headRead
	}
	if *n == 0 {
		wait := srv.ReadHeaderTimeout
		if !first {
			wait = srv.IdleTimeout
		}
		if !c.setReadDeadline(deadline(wait)) {
			return 0, headClosed
		}
		m, err := c.nc.Read(buf)
		if m == 0 || err != nil && !errors.Is(err, io.EOF) {
			return 0, headClosed
		}
		*n = m
	}
	c.state(http.StateActive)
	if end := headEnd(buf[:*n]); end >= 0 { // the whole head came at once
		return end, headRead
	}
	if !first && !c.setReadDeadline(deadline(srv.ReadHeaderTimeout)) {
		return 0, headClosed
	}
	for {
		if end := headEnd(buf[:*n]); end >= 0 {
			return end, headRead // the deadline stands until the body's or the next head's
		}
		if *n == len(buf) {
			c.handOff(buf)
			return 0, headHandedOff
		}
		m, err := c.nc.Read(buf[*n:])
		*n += m
		if err != nil {
			return 0, headClosed
		}
	}
}

// setReadDeadline sets the deadline of the next head's reads; false once
// draining. Checked after the deadline is set, so that Shutdown's (now)
// is not overwritten unseen.
func (c *conn) setReadDeadline(t time.Time) bool {
	c.setRead(t, false)
	return !c.l.isDraining()
}

// close closes the connection the front served. Its hooks hear of it
// first: a client that sees the connection end finds its slot of the
// per-address cap free again.
func (c *conn) close() {
	c.state(http.StateClosed)
	c.nc.Close()
}

// deadline returns the time d from now; zero (none) when d <= 0.
func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

// pathOf returns a request target's path: what comes before any '?'.
func pathOf(target string) string {
	for i := 0; i < len(target); i++ {
		if target[i] == '?' {
			return target[:i]
		}
	}
	return target
}
