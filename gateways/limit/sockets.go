package limit

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rtbroker/rtbroker/gateways/internal/httpx"
)

// DefaultReadTimeout is how long a request body may take to arrive
// (--read-timeout).
const DefaultReadTimeout = 10 * time.Second

// BodyDeadline returns middleware that reads every request body within
// d: a body still incomplete after d is answered 408 timeout and its
// connection closed; any other failed body read is a client error (400,
// logged at debug). Requests without a body (streams, WebSocket upgrades)
// get no deadline. See httpx.BodyDeadline; d <= 0 disables it.
func BodyDeadline(d time.Duration) func(http.Handler) http.Handler {
	return httpx.BodyDeadline(d)
}

// Sockets counts the TCP connections the HTTP server holds per client IP
// address and caps them, so that requests that are not streams (slow
// publish bodies, Engine.IO polling POSTs, idle keep-alive connections)
// cannot hold more of the server's descriptors than a client's share.
// Install it with Install; a connection over the cap is answered 429
// rate_limited on its first request, with Connection: close.
//
// A connection is counted from its accept until it is closed, or until a
// handler takes it over (an SSE stream, a WebSocket): from then on it is
// a stream or a session, which Conns counts. Safe for concurrent use; a
// nil *Sockets allows everything.
type Sockets struct {
	conns *Conns

	mu    sync.Mutex          // guards slots
	slots map[net.Conn]string // counted connections, by their IP
}

// socketKey is the context key of a connection refused by Sockets.
type socketKey struct{}

// NewSockets returns a cap of max connections per IP; nil (no cap) when
// max <= 0.
func NewSockets(max int) *Sockets {
	if max <= 0 {
		return nil
	}
	return &Sockets{conns: NewConns(max), slots: make(map[net.Conn]string)}
}

// Install sets srv's ConnContext and ConnState hooks (chaining those
// already set) and returns the middleware that refuses the requests of
// connections over the cap; put it in front of every handler.
func (s *Sockets) Install(srv *http.Server) func(http.Handler) http.Handler {
	if s == nil {
		return func(next http.Handler) http.Handler { return next }
	}
	prevCtx, prevState := srv.ConnContext, srv.ConnState
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prevCtx != nil {
			ctx = prevCtx(ctx, c)
		}
		return s.accept(ctx, c)
	}
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateClosed || st == http.StateHijacked {
			s.release(c)
		}
		if prevState != nil {
			prevState(c, st)
		}
	}
	return s.middleware
}

// accept counts c, or marks ctx refused when its IP is at the cap.
func (s *Sockets) accept(ctx context.Context, c net.Conn) context.Context {
	ip := ClientIP(c.RemoteAddr().String())
	if !s.conns.Acquire(ip) {
		return context.WithValue(ctx, socketKey{}, true)
	}
	s.mu.Lock()
	s.slots[c] = ip
	s.mu.Unlock()
	return ctx
}

func (s *Sockets) release(c net.Conn) {
	s.mu.Lock()
	ip, ok := s.slots[c]
	delete(s.slots, c)
	s.mu.Unlock()
	if ok {
		s.conns.Release(ip)
	}
}

// Len returns how many IPs have a counted connection open.
func (s *Sockets) Len() int {
	if s == nil {
		return 0
	}
	return s.conns.Len()
}

func (s *Sockets) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refused, _ := r.Context().Value(socketKey{}).(bool); refused {
			h := w.Header()
			h.Set("Retry-After", "1")
			h.Set("Connection", "close")
			httpx.WriteErrorBody(w, http.StatusTooManyRequests, httpx.CodeRateLimited, "too many connections from this address")
			return
		}
		next.ServeHTTP(w, r)
	})
}
