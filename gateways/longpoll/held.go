package longpoll

import (
	"errors"
	"net"
	"net/http"
	"strconv"
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
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
)

// heldPoll is a poll waiting for events on a hijacked HTTP/1.1 connection. It
// holds no goroutine and no buffer while it waits: it is a task of the
// handler's pool, made ready by its subscription (new events, broker
// shutdown), by the handler's deadline scheduler (the poll's timeout or
// token deadline has come, the handler is closing), by the admin API's
// Disconnect, and by the poller when the client sends something or hangs
// up. Its answer is the one the request goroutine would have written,
// with Connection: close (the connection is not handed back to net/http);
// what the socket does not take at once is written by a goroutine within
// WriteTimeout.
type heldPoll struct {
	h     *Handler
	sub   *broker.Subscription
	task  *pump.Task
	entry *conns.Entry
	limit int // the poll's limit

	// Set once by hold, inside Task.Do; read by the task.
	nc    net.Conn
	rc    syscall.RawConn // nil: the answer goes through a flush goroutine and hang-ups are not seen
	reg   *netpoll.Reg
	head  []byte             // the response's header lines, but the status line, Date and Content-Length
	reset *broker.ResetError // what the answer reports so far
	until time.Time          // when the poll is answered without events
	fin   [4]func()          // the request's end-of-request work (ServeHTTP), in order
	end   deadline.Entry[*heldPoll]

	keep    bool        // owned by the task: the answer keeps the connection alive and it is requeued
	input   atomic.Bool // the poller saw input or a hang-up
	started bool        // owned by the task: hold has set the fields above
	done    bool        // owned by the task: answered (or the client left)
}

// hold takes the poll c away from the request goroutine when r is
// HTTP/1.1 without TLS and held polls are supported, hijacking the
// connection. It reports false, having written nothing, when the poll is
// to wait on the request goroutine instead.
//
// When it holds, it takes over fin, the request's end-of-request work
// (ServeHTTP's), and leaves it empty: the held poll runs it when it ends.
func (h *Handler) hold(w http.ResponseWriter, r *http.Request, c *heldPoll, reset *broker.ResetError, until time.Time, fin *[4]func()) bool {
	if h.pool == nil || r.ProtoMajor != 1 || r.TLS != nil {
		return false
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Connection", "close") // the connection is not handed back to net/http
	hdr.Del("Content-Length")
	hdr.Del("Transfer-Encoding")
	end := httpx.Detach(r)
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		end()
		hdr.Del("Connection")
		return false
	}
	// With Requeue the connection goes back to the server after the
	// answer, unless the client asked to close it or sent something
	// after its request already (a pipelined one), which is dropped and
	// the connection closed after the answer.
	keep := h.cfg.Requeue != nil && !r.Close && r.ProtoMinor == 1 && brw.Reader.Buffered() == 0
	if keep {
		hdr.Del("Connection")
	}
	hw := appendWriter{make([]byte, 0, 256)}
	_ = hdr.Write(&hw) // sorted, with line breaks in values made spaces
	c.task.Do(func() {
		c.nc, c.head, c.reset, c.until, c.keep = nc, hw.b, reset, until, keep
		c.fin, *fin = *fin, [4]func(){}
		c.fin[3] = func() { // was h.t.End
			end()
			h.t.End()
		}
		if tc, ok := rawio.TCP(nc); ok {
			if rc, err := tc.SyscallConn(); err == nil {
				c.rc = rc
			}
		}
		if c.rc != nil {
			c.reg, _ = h.poller.Add(c.rc, netpoll.Func(c.readable)) // without it, the timeout finds a gone client
		}
		c.end.Value = c
		h.ends.Reset(&c.end, until)
		c.started = true
	})
	if h.ending.Load() { // after Reset: else closeAll makes it ready
		c.task.Ready()
	}
	c.sub.OnWake(c.task.Ready)
	c.task.Ready() // anything committed before OnWake
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
func (c *heldPoll) readable() {
	c.input.Store(true)
	c.task.Ready()
}

// due is the deadline scheduler's callback: c's timeout or token deadline
// has come, or the handler is closing.
func (h *Handler) due(c *heldPoll, _, _ time.Time) time.Time {
	c.task.Ready()
	return time.Time{}
}

// watchClosing is a goroutine of the Handler: when Close begins it makes
// every held poll ready (to be answered). It returns then, or when the
// handler's context ends.
func (h *Handler) watchClosing() {
	select {
	case <-h.t.Closing():
		h.ending.Store(true)
		h.ends.FireAll()
	case <-h.ctx.Done():
	}
}

// step is the held poll's task: drop it when the client hung up, answer it
// when events came (or a reset, or an error), or with what it has when
// its time is up, the handler or broker closes, or an operator
// disconnected it.
func (c *heldPoll) step() {
	if !c.started || c.done {
		return
	}
	if c.input.Swap(false) {
		// A poller sends nothing after its request: drop what comes, and
		// let the poll go when the client has hung up (nothing is written).
		if rawio.Discard(c.rc, 64<<10) {
			c.keep = false
			c.close()
			return
		}
		c.keep = false // what was dropped may have been a request
		_ = c.reg.Arm()
	}
	h := c.h
	select {
	case <-h.t.Closing():
		c.answer(nil)
		return
	case <-h.b.Done():
		c.answer(nil)
		return
	default:
	}
	if c.entry.Kicked() || !time.Now().Before(c.until) {
		c.answer(nil)
		return
	}
	for {
		evs, err := c.sub.TryNext(h.ctx, c.limit)
		var re *broker.ResetError
		switch {
		case errors.As(err, &re):
			c.reset = fold(c.reset, re)
			continue
		case err != nil:
			c.fail(err)
		case len(evs) > 0:
			evs, re = more(h.ctx, c.sub, evs, c.limit)
			if re != nil {
				c.reset = fold(c.reset, re)
			}
			c.answer(evs)
		case c.reset != nil:
			c.answer(nil)
		}
		return
	}
}

// answer writes the 200 response with evs and closes the connection.
func (c *heldPoll) answer(evs []*broker.Event) {
	h := c.h
	p := h.getBuf()
	body := h.appendBody((*p)[:0], evs, c.sub.Position(), c.reset, c.sub.LiveAfter())
	c.write(c.appendHead(nil, http.StatusOK, len(body), nil), body, p)
}

// fail writes the error response of err (the one httpx.WriteError writes
// on a request goroutine) and closes the connection.
func (c *heldPoll) fail(err error) {
	h := c.h
	status, code, msg := wire.Classify(err)
	var extra []byte
	switch status {
	case http.StatusInternalServerError:
		if code != wire.CodeDataCorrupted { // else the storage logged it once at ERROR
			h.cfg.Logger.ErrorContext(h.ctx, "request failed", "err", err, "method", http.MethodGet, "rooms", c.sub.Rooms())
		}
	case http.StatusServiceUnavailable:
		extra = []byte("Retry-After: 1\r\n")
	}
	e := wire.ErrorBody{Code: code, Message: msg}
	body := append([]byte(`{"error":`), e.AppendJSON(nil)...)
	body = append(body, "}\n"...)
	c.write(c.appendHead(nil, status, len(body), extra), body, nil)
}

// appendHead appends the response's status line and header.
func (c *heldPoll) appendHead(b []byte, status, length int, extra []byte) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, "\r\nDate: "...)
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(length), 10)
	b = append(b, "\r\n"...)
	b = append(b, c.head...)
	b = append(b, extra...)
	return append(b, "\r\n"...)
}

// write writes head and body without blocking, then closes the
// connection; what the socket does not take at once is written by a flush
// goroutine within WriteTimeout. p, when set, is the pooled buffer of
// body, given back once written.
func (c *heldPoll) write(head, body []byte, p *[]byte) {
	c.done = true
	rest, err := rawio.WriteAnswer(c.rc, head, body)
	if rest == nil {
		if p != nil {
			c.h.putBuf(p, body)
		}
		c.keep = c.keep && err == nil
		c.close()
		return
	}
	c.h.wg.Go(func() {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.h.cfg.WriteTimeout))
		if _, err := rest.WriteTo(c.nc); err != nil {
			c.keep = false // read by close, after Do orders it
		}
		c.task.Do(func() {
			if p != nil {
				c.h.putBuf(p, body)
			}
			_ = c.nc.SetWriteDeadline(time.Time{})
			c.close()
		})
	})
}

// close ends the held poll: the connection, the subscription, the
// deadline, the registration with the poller, and the request (the
// registry entry, presence, the middleware's connection count, Active).
// Called by the task's holder; idempotent.
func (c *heldPoll) close() {
	c.done = true
	if c.nc == nil {
		return
	}
	if c.reg != nil {
		c.reg.Remove() // before the file descriptor can be reused
		c.reg = nil
	}
	if !c.keep || !c.h.cfg.Requeue(c.nc) {
		_ = c.nc.Close()
	}
	c.nc = nil
	c.sub.OnWake(nil)
	c.h.ends.Remove(&c.end)
	fin := c.fin
	c.fin = [4]func(){}
	for _, f := range fin {
		if f != nil {
			f()
		}
	}
}
