package sse

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/conns"
	"github.com/rtbroker/rtbroker/gateways/internal/deadline"
	"github.com/rtbroker/rtbroker/gateways/internal/httpx"
	"github.com/rtbroker/rtbroker/gateways/internal/netpoll"
	"github.com/rtbroker/rtbroker/gateways/internal/pump"
	"github.com/rtbroker/rtbroker/gateways/internal/rawio"
)

// conn is an event stream on a hijacked HTTP/1.1 connection. It holds no
// goroutine and no buffer while idle: it is a task of the handler's pool,
// made ready by its subscription (new events, broker shutdown), by the
// heartbeat sweeper (a ping or the token deadline is due, the handler is
// closing) and by its flush goroutine. A run writes what it has without
// blocking; what the socket does not take at once goes to a flush
// goroutine that waits for the socket up to WriteTimeout, and the stream
// reads nothing more meanwhile (a slow client costs one batch, never a
// queue, and never holds up a worker).
type conn struct {
	h       *Handler
	nc      net.Conn
	rc      syscall.RawConn // nil: every write goes through a flush goroutine
	reg     *netpoll.Reg    // tells when the client sent something or hung up; nil without a poller
	sub     *broker.Subscription
	task    *pump.Task
	expires time.Time // the token's deadline; zero: never
	end     func()    // ends the request: the registry entry, middleware cleanups (httpx.Detach) and Tracker.End
	entry   *conns.Entry

	lastWrite atomic.Int64 // unix nanoseconds of the last write; read by the sweeper
	flushing  atomic.Bool  // a flush goroutine owns the socket
	input     atomic.Bool  // the poller saw input or a hang-up

	done bool // owned by the task: the stream has ended

	beat deadline.Entry[*conn] // in h.beats: when the sweeper looks at the stream next
}

// scratch holds the buffers of one write of a hijacked stream.
type scratch struct {
	g rawio.Gather
	w rawio.Writer
}

// hijack takes the connection of r away from net/http and serves the
// stream on it as a task (see conn), when r is HTTP/1.1 without TLS and
// the system supports non-blocking writes. It reports false, having
// written nothing, when the stream is to be served on the request's
// goroutine instead.
func (h *Handler) hijack(w http.ResponseWriter, r *http.Request, sub *broker.Subscription, expires time.Time, e *conns.Entry) bool {
	if r.ProtoMajor != 1 || r.TLS != nil || !rawio.Supported {
		return false
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Connection", "close") // the body ends when the connection does
	hdr.Del("Content-Length")
	hdr.Del("Transfer-Encoding")
	end := httpx.Detach(r)
	nc, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		end()
		hdr.Del("Connection")
		return false
	}
	c := &conn{h: h, nc: nc, sub: sub, expires: expires, entry: e}
	c.end = func() {
		h.conns.Remove(e)
		end()
		h.t.End()
	}
	if tc, ok := rawio.TCP(nc); ok {
		if rc, err := tc.SyscallConn(); err == nil {
			c.rc = rc
		}
	}
	c.task = h.pool.NewTask(c.step)

	sc := h.getScratch()
	b := append(make([]byte, 0, 512), "HTTP/1.1 200 OK\r\nDate: "...)
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\n"...)
	hw := appendWriter{b}
	_ = hdr.Write(&hw) // sorted, with line breaks in values made spaces
	b = append(hw.b, "\r\n"...)
	b = appendRetry(b, h.cfg.Retry)
	if re := sub.Reset(); re != nil {
		b = appendReset(b, re, sub.Position().Offset)
	}
	sc.g.Add(b, true)
	c.task.Do(func() {
		c.write(sc, false)
		if c.done {
			return
		}
		h.beats.add(c)
		if h.poll != nil && c.rc != nil {
			c.reg, _ = h.poll.Add(c.rc, netpoll.Func(c.readable)) // without it, the heartbeat finds a gone client
		}
	})
	sub.OnWake(c.task.Ready)
	c.task.Ready() // the replay, and anything committed before OnWake
	return true
}

// appendWriter is an io.Writer appending to a byte slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// readable is the poller's ready function: the client sent something
// (it should not) or hung up.
func (c *conn) readable() {
	c.input.Store(true)
	c.task.Ready()
}

// step is the stream's task: end it (the client hung up, shutdown, token
// deadline), or write the next batch of events, or a heartbeat.
func (c *conn) step() {
	if c.done {
		return
	}
	if c.input.Swap(false) {
		// An EventSource sends nothing after its request: drop what comes,
		// and end the stream when the client has hung up.
		if rawio.Discard(c.rc, 64<<10) {
			c.close()
			return
		}
		_ = c.reg.Arm()
	}
	if c.flushing.Load() {
		return // the flush goroutine makes the task ready when it is done
	}
	h := c.h
	select {
	case <-h.t.Closing():
		c.finish(shutdownFrame(h.cfg.ShutdownRetry, "shutdown"))
		return
	case <-h.b.Done():
		c.finish(shutdownFrame(h.cfg.ShutdownRetry, "shutdown"))
		return
	default:
	}
	now := time.Now()
	if !c.expires.IsZero() && !now.Before(c.expires) {
		c.finish(shutdownFrame(h.cfg.ShutdownRetry, "token expired"))
		return
	}
	evs, err := c.sub.TryNext(h.ctx, h.cfg.BatchSize)
	if err != nil {
		c.readFailed(err)
		return
	}
	if len(evs) > 0 {
		sc := h.getScratch()
		for _, ev := range evs {
			sc.g.Add(ev.Encode(h.enc), false)
		}
		h.deliveries.Add(evs, sc.g.Len(), c.sub.LiveAfter())
		c.write(sc, false)
		if len(evs) >= h.cfg.BatchSize {
			c.task.Ready() // there may be more: after the other ready streams
		}
		return
	}
	if now.UnixNano()-c.lastWrite.Load() >= int64(h.cfg.Heartbeat-h.beats.slack) {
		if c.rc != nil && rawio.PeerClosed(c.rc) {
			c.close() // the client went away: nobody to tell
			return
		}
		sc := h.getScratch()
		sc.g.Add([]byte(": ping\n\n"), true)
		c.write(sc, false)
	}
}

// readFailed handles an error of the subscription: a reset is told to the
// client and the stream goes on from where it resumes; a closed broker or
// handler ends it with the shutdown hint; anything else is logged and ends
// it with a retry hint, so the client comes back with its Last-Event-ID.
func (c *conn) readFailed(err error) {
	h := c.h
	var re *broker.ResetError
	switch {
	case errors.As(err, &re):
		sc := h.getScratch()
		sc.g.Add(appendReset(nil, re, c.sub.Position().Offset), true)
		c.write(sc, false)
		c.task.Ready()
	case c.entry.Kicked():
		c.finish(shutdownFrame(h.cfg.ShutdownRetry, kickedComment))
	case errors.Is(err, broker.ErrClosed) || h.ctx.Err() != nil:
		c.finish(shutdownFrame(h.cfg.ShutdownRetry, "shutdown"))
	case errors.As(err, new(*broker.CorruptionError)): // the storage logged it at ERROR once
		h.cfg.Logger.DebugContext(h.ctx, "sse stream read failed", "err", err)
		c.finish(appendCorrupted(nil, err))
	default:
		h.cfg.Logger.ErrorContext(h.ctx, "sse stream read failed", "err", err, "rooms", c.sub.Rooms(), "position", c.sub.Position().Offset)
		c.finish(appendRetry(nil, h.cfg.Retry))
	}
}

// shutdownFrame is a retry hint of between d and 2d (jitter, so that the
// clients of a closing node do not all come back at once) with a comment.
func shutdownFrame(d time.Duration, comment string) []byte {
	b := appendRetry(nil, d+rand.N(d))
	b = append(b[:len(b)-1], ": "...)
	b = append(b, comment...)
	return append(b, "\n\n"...)
}

// finish writes the last bytes of the stream, then closes it.
func (c *conn) finish(last []byte) {
	sc := c.h.getScratch()
	sc.g.Add(last, true)
	c.write(sc, true)
}

// write writes what sc holds without blocking and gives sc back. What the
// socket does not take at once goes to a flush goroutine. With final set
// the stream closes once everything is written. Called by the task's
// holder.
func (c *conn) write(sc *scratch, final bool) {
	h := c.h
	n, err := 0, error(nil)
	if c.rc != nil {
		n, err = sc.w.Writev(c.rc, sc.g.Buffers())
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = nil // left over from a flush: the next flush sets its own
		}
	}
	c.lastWrite.Store(time.Now().UnixNano())
	var rest [][]byte
	if err == nil && n < sc.g.Len() {
		rest = sc.g.Rest(n)
	}
	h.putScratch(sc)
	switch {
	case err != nil:
		c.close()
	case rest != nil:
		c.flushing.Store(true)
		h.wg.Go(func() { c.flush(rest, final) })
	case final:
		c.close()
	}
}

// flush is the flush goroutine: it writes rest within WriteTimeout, then
// gives the socket back to the task (or closes the stream after a final
// write or a failure).
func (c *conn) flush(rest [][]byte, final bool) {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.h.cfg.WriteTimeout))
	bufs := net.Buffers(rest)
	_, err := bufs.WriteTo(c.nc)
	c.lastWrite.Store(time.Now().UnixNano())
	if err != nil || final {
		c.task.Do(c.close)
		return
	}
	_ = c.nc.SetWriteDeadline(time.Time{}) // non-blocking writes need none
	c.flushing.Store(false)
	c.task.Ready()
}

// close ends the stream: the connection, the subscription, the heartbeat,
// and the request (the middleware's connection count, Active). Called by
// the task's holder; idempotent.
func (c *conn) close() {
	if c.done {
		return
	}
	c.done = true
	if c.reg != nil {
		c.reg.Remove() // before the file descriptor can be reused
	}
	_ = c.nc.Close()
	c.sub.Close()
	c.h.beats.remove(c)
	c.end()
}

func (h *Handler) getScratch() *scratch {
	if sc, ok := h.scratch.Get().(*scratch); ok {
		return sc
	}
	return &scratch{}
}

func (h *Handler) putScratch(sc *scratch) {
	sc.g.Reset(maxPooled)
	h.scratch.Put(sc)
}
