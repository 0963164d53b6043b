package limit

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/rtbroker/rtbroker/gateways/internal/httpx"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
)

// Conns counts open connections (SSE streams, held long-polls, Socket.IO
// sessions) per client IP address and caps them. Its map holds only IPs
// with a connection open. Safe for concurrent use; a nil *Conns allows
// everything.
type Conns struct {
	max      int
	rejected atomic.Int64 // Acquire calls that returned false, for Rejected

	mu   sync.Mutex     // guards open
	open map[string]int // by IP; never holds 0
}

// NewConns returns a cap of max connections per IP; nil (no cap) when
// max <= 0.
func NewConns(max int) *Conns {
	if max <= 0 {
		return nil
	}
	return &Conns{max: max, open: make(map[string]int)}
}

// Acquire counts a connection from ip; false when ip is at the cap (then
// do not Release).
func (c *Conns) Acquire(ip string) bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[ip] >= c.max {
		c.rejected.Add(1)
		return false
	}
	c.open[ip]++
	return true
}

// Release ends a connection counted by Acquire.
func (c *Conns) Release(ip string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[ip]--; c.open[ip] <= 0 {
		delete(c.open, ip)
	}
}

// Len returns how many IPs have a connection open.
func (c *Conns) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.open)
}

// Admit is engineio.Config.Admit: it counts a Socket.IO session from r's
// IP until release.
func (c *Conns) Admit(r *http.Request) (release func(), ok bool) {
	ip := requestIP(r)
	if !c.Acquire(ip) {
		return nil, false
	}
	return func() { c.Release(ip) }, true
}

// Middleware counts each request to next (an SSE stream or a long-poll)
// as a connection from its IP while next runs (or, when next detaches
// from the request, see httpx.Detach, until it ends); over the cap it
// answers 429 rate_limited without calling next.
func (c *Conns) Middleware(next http.Handler) http.Handler {
	if c == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := requestIP(r)
		if !c.Acquire(ip) {
			w.Header().Set("Retry-After", "1")
			httpx.WriteErrorBody(w, http.StatusTooManyRequests, wire.CodeRateLimited, "too many connections from this address")
			return
		}
		r, after := httpx.Detachable(r) // a hijacked SSE stream holds the slot until it ends
		defer after(func() { c.Release(ip) })
		next.ServeHTTP(w, r)
	})
}
