package engineio

import (
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rtbroker/rtbroker/gateways/internal/netpoll"
	"github.com/rtbroker/rtbroker/gateways/internal/pump"
	"github.com/rtbroker/rtbroker/gateways/internal/rawio"
)

// heldGet is a polling GET waiting for packets on a hijacked HTTP/1.1
// connection. It holds no goroutine and no buffer while it waits: it is a
// task of the server's pump pool, made ready by its session
// (Conn.signalPoll: packets queued, an upgrade, the session closing) and
// by the poller when the client sends something or hangs up. Its answer
// is the one servePoll writes on a request goroutine; then the connection
// goes back to the HTTP server (Config.Requeue), or the answer carries
// Connection: close. What the socket does not take at once is written by
// a goroutine within WriteTimeout.
type heldGet struct {
	s    *Server
	c    *Conn
	task *pump.Task

	// Set before the task first runs (in Task.Do); then owned by the task.
	nc   net.Conn
	rc   syscall.RawConn // nil: the answer goes through a flush goroutine and hang-ups are not seen
	reg  *netpoll.Reg
	head []byte // header lines of the answer set before the hijack (CORS), with Connection: close unless keep
	done bool
	keep bool // the answer keeps the connection alive and it goes back to the server (Config.Requeue)

	input atomic.Bool // the poller saw input or a hang-up
}

// holdPoll takes the waiting GET r of c away from its request goroutine
// when r is HTTP/1.1 without TLS and the server has a poller, hijacking
// the connection. It reports false, having written nothing, when the GET
// is to wait on its request goroutine instead. c.polling is set.
func (s *Server) holdPoll(w http.ResponseWriter, r *http.Request, c *Conn) bool {
	if s.pool == nil || r.ProtoMajor != 1 || r.TLS != nil {
		return false
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.held.Add(1)
	s.mu.Unlock()
	hdr := w.Header()
	hdr.Set("Connection", "close")
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		hdr.Del("Connection")
		s.held.Done()
		return false
	}
	// With Requeue the connection goes back to the server after the
	// answer, unless the client asked to close it or sent something
	// after its request already (a pipelined one), which is dropped and
	// the connection closed after the answer.
	keep := s.cfg.Requeue != nil && !r.Close && r.ProtoMinor == 1 && brw.Reader.Buffered() == 0
	if keep {
		hdr.Del("Connection")
	}
	hw := appendWriter{make([]byte, 0, 128)}
	_ = hdr.Write(&hw)
	g := &heldGet{s: s, c: c}
	g.task = s.pool.NewTask(g.step)
	g.task.Do(func() {
		g.nc, g.head, g.keep = nc, hw.b, keep
		if tc, ok := rawio.TCP(nc); ok {
			if rc, err := tc.SyscallConn(); err == nil {
				g.rc = rc
			}
		}
		if g.rc != nil {
			g.reg, _ = s.poll.Add(g.rc, netpoll.Func(g.readable)) // without it, the ping finds a gone client
		}
	})
	c.mu.Lock()
	if c.polling {
		c.held = g
	}
	c.mu.Unlock()
	g.task.Ready() // whatever came before c.held was set
	return true
}

// appendWriter is an io.Writer appending to a byte slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// readable is the poller's ready function: the client sent something or
// hung up.
func (g *heldGet) readable() {
	g.input.Store(true)
	g.task.Ready()
}

// step is the held GET's task: when the client hung up, the session ends
// as it does when a waiting GET's request is cancelled; when the session
// has something for it, it is answered.
func (g *heldGet) step() {
	if g.done {
		return
	}
	c := g.c
	if g.input.Swap(false) {
		g.keep = false // what is dropped may have been a request
		if rawio.Discard(g.rc, 64<<10) {
			c.mu.Lock()
			if c.held == g {
				c.polling, c.held = false, nil
			}
			c.mu.Unlock()
			g.close()
			c.finish(reasonTransportError, 0)
			return
		}
		_ = g.reg.Arm()
	}
	items, tail, status, closeAfter := c.pollResult(false, false)
	if status == 0 {
		return
	}
	rw := bufResponse{h: make(http.Header, 2)}
	g.s.answerPoll(&rw, c, items, tail, status)
	g.write(rw.appendHead(nil, g.head), rw.body)
	if closeAfter {
		c.finish(reasonForcedClose, 0)
	}
}

// write writes head and body without blocking, then closes the
// connection; what the socket does not take at once is written by a flush
// goroutine within WriteTimeout.
func (g *heldGet) write(head, body []byte) {
	g.done = true
	rest, err := rawio.WriteAnswer(g.rc, head, body)
	if rest == nil {
		g.keep = g.keep && err == nil
		g.close()
		return
	}
	g.s.wg.Go(func() {
		_ = g.nc.SetWriteDeadline(time.Now().Add(g.s.cfg.WriteTimeout))
		_, err := rest.WriteTo(g.nc)
		g.task.Do(func() {
			g.keep = g.keep && err == nil
			_ = g.nc.SetWriteDeadline(time.Time{})
			g.close()
		})
	})
}

// close closes the connection and ends the held GET. Called by the
// task's holder, once.
func (g *heldGet) close() {
	g.done = true
	if g.nc == nil {
		return
	}
	if g.reg != nil {
		g.reg.Remove() // before the file descriptor can be reused
		g.reg = nil
	}
	if !g.keep || !g.s.cfg.Requeue(g.nc) {
		_ = g.nc.Close()
	}
	g.nc = nil
	g.s.held.Done()
}

// bufResponse is an http.ResponseWriter that keeps the response, for a
// held GET's answer (written by the same code as on a request goroutine).
type bufResponse struct {
	h      http.Header
	status int
	body   []byte
}

func (b *bufResponse) Header() http.Header { return b.h }

func (b *bufResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	b.body = append(b.body, p...)
	return len(p), nil
}

// appendHead appends the status line, Date, the response's header and
// the header lines in extra (already formatted), and the blank line.
func (b *bufResponse) appendHead(dst, extra []byte) []byte {
	status := b.status
	if status == 0 {
		status = http.StatusOK
	}
	if b.h.Get("Content-Length") == "" {
		b.h.Set("Content-Length", strconv.Itoa(len(b.body)))
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(status)...)
	dst = append(dst, "\r\nDate: "...)
	dst = time.Now().UTC().AppendFormat(dst, http.TimeFormat)
	dst = append(dst, "\r\n"...)
	hw := appendWriter{dst}
	_ = b.h.Write(&hw)
	dst = append(hw.b, extra...)
	return append(dst, "\r\n"...)
}
