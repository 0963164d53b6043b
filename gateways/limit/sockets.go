package limit

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtbroker/rtbroker/gateways/internal/httpx"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
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

// Sockets counts the TCP connections of the HTTP server that are serving
// a request (or are new and have not sent one yet) per client IP address
// and caps them, so that requests that are not streams (slow publish
// bodies, Engine.IO polling POSTs) cannot hold more of the server's
// descriptors than a client's share. Install it with Install; a request
// over the cap is answered 429 rate_limited, with Connection: close.
//
// A connection is counted from its accept until it goes idle between
// requests (keep-alive connections are bounded by the server's
// IdleTimeout), is closed, or is taken over by a handler (an SSE stream,
// a WebSocket): from then on it is a stream or a session, which Conns
// counts. Safe for concurrent use; a nil *Sockets allows everything.
type Sockets struct {
	conns *Conns

	mu    sync.Mutex           // guards slots
	slots map[net.Conn]*socket // every open connection of the server
}

// socket is one connection of the server.
type socket struct {
	ip      string
	counted bool        // holds a slot of conns; guarded by Sockets.mu
	refused atomic.Bool // its current request is over the cap
}

// socketKey is the context key of a connection's *socket.
type socketKey struct{}

// NewSockets returns a cap of max connections per IP; nil (no cap) when
// max <= 0.
func NewSockets(max int) *Sockets {
	if max <= 0 {
		return nil
	}
	return &Sockets{conns: NewConns(max), slots: make(map[net.Conn]*socket)}
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
		sk := &socket{ip: ClientIP(c.RemoteAddr().String())}
		s.mu.Lock()
		s.slots[c] = sk
		s.mu.Unlock()
		return context.WithValue(ctx, socketKey{}, sk)
	}
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		s.state(c, st)
		if prevState != nil {
			prevState(c, st)
		}
	}
	return s.middleware
}

// state follows a connection: counted while new or active, not while
// idle, forgotten once closed or hijacked.
func (s *Sockets) state(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	sk := s.slots[c]
	if sk == nil {
		s.mu.Unlock()
		return
	}
	release := false
	switch st {
	case http.StateNew, http.StateActive:
		if !sk.counted {
			sk.counted = s.conns.Acquire(sk.ip)
			sk.refused.Store(!sk.counted)
		}
	case http.StateIdle:
		release, sk.counted = sk.counted, false
	case http.StateClosed, http.StateHijacked:
		release, sk.counted = sk.counted, false
		delete(s.slots, c)
	}
	s.mu.Unlock()
	if release {
		s.conns.Release(sk.ip)
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
		if sk, _ := r.Context().Value(socketKey{}).(*socket); sk != nil && sk.refused.Load() {
			h := w.Header()
			h.Set("Retry-After", "1")
			h.Set("Connection", "close")
			_ = http.NewResponseController(w).SetReadDeadline(time.Now()) // its body is not waited for
			httpx.WriteErrorBody(w, http.StatusTooManyRequests, wire.CodeRateLimited, "too many connections from this address")
			return
		}
		next.ServeHTTP(w, r)
	})
}
