package socketio

import (
	"time"

	"github.com/rtbroker/rtbroker/gateways/internal/deadline"
)

// newExpiries returns the scheduler that disconnects the members whose
// identity expires (a token with an exp) at their deadline, with one
// goroutine and one timer per gateway instead of a timer per socket and
// without walking every socket. Members expiring within tick of each other
// are disconnected together, at most tick after their deadline. The
// gateway owns it: Gateway.expire closes it.
func newExpiries(tick time.Duration) *deadline.Scheduler[*member] {
	return deadline.New(deadline.Config{Tick: tick}, expireMember)
}

// watchExpiry schedules m's disconnection at its identity's deadline (no
// deadline: never). Call with g.mu held.
func (g *Gateway) watchExpiry(m *member) {
	if at := g.cfg.Auth.Deadline(m.id); !at.IsZero() {
		e := &deadline.Entry[*member]{Value: m}
		if g.expiries == nil {
			g.expiries = make(map[*member]*deadline.Entry[*member])
		}
		g.expiries[m] = e
		g.expiring.Reset(e, at)
	}
}

// unwatchExpiry forgets m (it disconnected). Call with g.mu held.
func (g *Gateway) unwatchExpiry(m *member) {
	if e := g.expiries[m]; e != nil {
		g.expiring.Remove(e)
		delete(g.expiries, m)
	}
}

// expireMember is the expiry scheduler's callback: m's token has expired.
// The socket gets a Socket.IO DISCONNECT ("io server disconnect" in
// socket.io-client), which does not reconnect by itself: the client sets a
// fresh token (socket.auth) and calls socket.connect(), and its session
// recovers.
func expireMember(m *member, _, _ time.Time) time.Time {
	m.ns.g.log.Debug("socketio: token expired, disconnecting", "sid", m.s.ID(), "sub", m.id.Subject)
	m.s.Disconnect()
	return time.Time{}
}

// expire waits until the gateway closes, then stops the expiry scheduler
// (after Close has disconnected every socket).
func (g *Gateway) expire() {
	<-g.ctx.Done()
	g.expiring.Close()
}
