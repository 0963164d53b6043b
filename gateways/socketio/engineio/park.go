package engineio

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rtbroker/rtbroker/gateways/internal/deadline"
	"github.com/rtbroker/rtbroker/gateways/internal/netpoll"
	"github.com/rtbroker/rtbroker/gateways/internal/rawio"
)

// parked is a keep-alive connection idle between two requests, taken
// from net/http after a polling POST and watched by the server's poller
// (see Config.Requeue). When the client sends its next request the
// connection is requeued to the HTTP server; after IdleTimeout, or at
// Close, it is closed.
type parked struct {
	s   *Server
	nc  net.Conn
	end deadline.Entry[*parked]

	mu   sync.Mutex   // guards reg and gone
	reg  *netpoll.Reg // nil once taken
	gone bool         // requeued or closed
}

// park takes the connection of r, whose response is complete, from
// net/http and waits for its next request in the poller. It reports false,
// leaving the connection with net/http, when parking does not apply
// (no Requeue, TLS, HTTP/2, a client that asked to close, the server
// closing) or fails.
func (s *Server) park(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.Requeue == nil || s.idle == nil || r.ProtoMajor != 1 || r.ProtoMinor != 1 || r.TLS != nil || r.Close {
		return false
	}
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return false
	}
	nc, brw, err := rc.Hijack()
	if err != nil {
		return false
	}
	tc, ok := rawio.TCP(nc)
	if !ok || brw.Reader.Buffered() > 0 {
		// The next request came already (or the connection is not TCP):
		// hand it straight back, with what was read of it.
		if n := brw.Reader.Buffered(); n > 0 {
			b, _ := brw.Reader.Peek(n)
			nc = rawio.Prefixed(nc, b)
		}
		if !s.cfg.Requeue(nc) {
			nc.Close()
		}
		return true
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		nc.Close()
		return true
	}
	p := &parked{s: s, nc: nc}
	p.end.Value = p
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return true
	}
	s.parked[p] = struct{}{}
	s.mu.Unlock()
	s.idle.Reset(&p.end, time.Now().Add(s.cfg.IdleTimeout))
	p.mu.Lock()
	if p.gone { // Close took it meanwhile (and closed the connection)
		p.mu.Unlock()
		return true
	}
	reg, err := s.poll.Add(raw, netpoll.Func(p.readable))
	if err != nil {
		p.mu.Unlock()
		p.close()
		return true
	}
	p.reg = reg // readable, if it came already, waits for mu
	p.mu.Unlock()
	return true
}

// take ends the wait: it reports whether the caller is the first (and
// owns the connection).
func (p *parked) take() bool {
	p.mu.Lock()
	if p.gone {
		p.mu.Unlock()
		return false
	}
	p.gone = true
	reg := p.reg
	p.reg = nil
	p.mu.Unlock()
	if reg != nil {
		reg.Remove() // before the file descriptor can be reused
	}
	p.s.idle.Remove(&p.end)
	p.s.mu.Lock()
	delete(p.s.parked, p)
	p.s.mu.Unlock()
	return true
}

// readable is the poller's ready function: the next request (or a
// hang-up, which net/http then sees) has come.
func (p *parked) readable() {
	if p.take() && !p.s.cfg.Requeue(p.nc) {
		p.nc.Close()
	}
}

// close closes the connection unless it was requeued.
func (p *parked) close() {
	if p.take() {
		p.nc.Close()
	}
}

// idleDue is the idle scheduler's callback: the connection waited
// IdleTimeout.
func (s *Server) idleDue(p *parked, _, _ time.Time) time.Time {
	p.close()
	return time.Time{}
}

// closeParked closes every parked connection (Close).
func (s *Server) closeParked() {
	s.mu.Lock()
	ps := make([]*parked, 0, len(s.parked))
	for p := range s.parked {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	for _, p := range ps {
		p.close()
	}
}
