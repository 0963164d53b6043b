package socketio

import (
	"time"

	"github.com/rtbroker/rtbroker/gateways/internal/iheap"
)

// newExpiries returns the heap that orders the members whose identity
// expires (a token with an exp) by their deadline, so that one ticker per
// gateway can disconnect them when it passes without walking every socket
// and without a timer per socket. It is guarded by Gateway.mu.
func newExpiries() *iheap.Heap[*member] {
	return iheap.New(func(a, b *member) bool { return a.deadline.Before(b.deadline) }, func(m *member, i int) { m.expIdx = i })
}

// watchExpiry schedules m's disconnection at its identity's deadline (no
// deadline: never). Call with g.mu held.
func (g *Gateway) watchExpiry(m *member) {
	m.expIdx = -1
	m.deadline = g.cfg.Auth.Deadline(m.id)
	if !m.deadline.IsZero() {
		g.expiring.Push(m)
	}
}

// unwatchExpiry forgets m (it disconnected). Call with g.mu held.
func (g *Gateway) unwatchExpiry(m *member) {
	if m.expIdx >= 0 {
		g.expiring.Remove(m.expIdx)
	}
}

// expire runs until the gateway closes: every ExpiryInterval it
// disconnects the sockets whose token has expired. They get a Socket.IO
// DISCONNECT ("io server disconnect" in socket.io-client), which does not
// reconnect by itself: the client sets a fresh token (socket.auth) and
// calls socket.connect(), and its session recovers.
func (g *Gateway) expire() {
	t := time.NewTicker(g.cfg.ExpiryInterval)
	defer t.Stop()
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-t.C:
		}
		for _, m := range g.expired(time.Now()) {
			g.log.Debug("socketio: token expired, disconnecting", "sid", m.s.ID(), "sub", m.id.Subject)
			m.s.Disconnect()
		}
	}
}

// expired removes and returns the members whose deadline is not after now.
func (g *Gateway) expired(now time.Time) []*member {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*member
	for g.expiring.Len() > 0 && !g.expiring.Min().deadline.After(now) {
		out = append(out, g.expiring.Pop())
	}
	return out
}
