package httpx

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/rtbroker/rtbroker/gateways/internal/wire"
)

// BodyDeadline returns middleware that reads every request body under a
// deadline: a request that has a body (any method but GET, HEAD and
// OPTIONS, with a declared length or chunked) gets a connection read
// deadline of d from the moment its handler starts. The deadline is
// lifted as soon as the body has been read to its end, so that a handler
// that then waits (a publish's commit) is not cut off, and the next
// request on the connection gets the server's own deadlines. A body that
// is late reads as wire.ErrBodyTimeout, any other read error as a
// *wire.BodyError.
//
// Requests without a body are passed on untouched: streams (SSE, long-poll
// GET, WebSocket upgrades) never get a read deadline from here. With d <=
// 0 the middleware is next itself.
func BodyDeadline(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if d <= 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !hasBody(r) {
				next.ServeHTTP(w, r)
				return
			}
			// One allocation for the request copy, its body and the
			// controller: this runs on every publish.
			x := &deadlineRequest{}
			x.body.w = w
			if err := setReadDeadline(w, time.Now().Add(d)); err != nil {
				next.ServeHTTP(w, r) // HTTP/2 without deadlines: the server's own timeouts apply
				return
			}
			x.req = *r // the server keeps r.Body: it drains and closes it after the handler
			x.body.rc = r.Body
			x.req.Body = &x.body
			next.ServeHTTP(w, &x.req)
		})
	}
}

// hasBody reports whether r has a body a handler may read.
func hasBody(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// deadlineBody is a request body read under a deadline (BodyDeadline).
type deadlineBody struct {
	rc   io.ReadCloser
	w    http.ResponseWriter // its connection's read deadline is the body's
	done atomic.Bool         // read to its end (the deadline is lifted) or failed
}

// setReadDeadline is http.ResponseController's SetReadDeadline without
// allocating the controller: it finds the method on w or on what w wraps.
func setReadDeadline(w http.ResponseWriter, t time.Time) error {
	for {
		switch x := w.(type) {
		case interface{ SetReadDeadline(time.Time) error }:
			return x.SetReadDeadline(t)
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return http.ErrNotSupported
		}
	}
}

// deadlineRequest is the request BodyDeadline hands on, allocated with
// its body in one piece.
type deadlineRequest struct {
	req  http.Request
	body deadlineBody
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	switch {
	case err == nil:
	case err == io.EOF:
		if b.done.CompareAndSwap(false, true) {
			_ = setReadDeadline(b.w, time.Time{})
		}
	default:
		b.done.Store(true)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = wire.ErrBodyTimeout
		} else {
			err = &wire.BodyError{Err: err}
		}
	}
	return n, err
}

func (b *deadlineBody) Close() error { return b.rc.Close() }

// BodyUnread reports whether r's body (under BodyDeadline) has neither
// been read to its end nor failed: answering such a request without
// closing the connection would make the server wait for the rest of it.
func BodyUnread(r *http.Request) bool {
	b, ok := r.Body.(*deadlineBody)
	return ok && !b.done.Load()
}

// CloseUnread prepares the answer to a request whose body has not been
// read (it is refused before it): the connection is closed after the
// answer, and the rest of the body is not waited for (net/http would read
// up to 256 KiB of it first, for as long as the client takes).
func CloseUnread(w http.ResponseWriter, r *http.Request) {
	if !BodyUnread(r) && (!hasBody(r) || isDeadlineBody(r)) {
		return
	}
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

func isDeadlineBody(r *http.Request) bool {
	_, ok := r.Body.(*deadlineBody)
	return ok
}
