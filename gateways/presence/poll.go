package presence

import (
	"time"

	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/internal/deadline"
)

// pollKey names one long-poll client in one room.
type pollKey struct{ client, room string }

// poll is a long-poll client's presence in one room: a Conn held while
// any of its polls is in progress and for PollGrace after the last one
// ended.
type poll struct {
	key   pollKey
	conn  *Conn
	held  int                   // polls in progress; guarded by Registry.mu
	entry deadline.Entry[*poll] // the grace deadline, while held is 0
}

// Poll records a poll of rooms by a long-poll client and returns the
// function to call when the poll has been answered (once). The client is
// present in each room from its first poll, while any of its polls is
// held, and until PollGrace after its last one ended with no new one
// arriving; then it leaves (presence:leave). client names it across
// polls: PollClient gives the key the long-poll gateway uses.
func (r *Registry) Poll(client string, rooms []string, id auth.Identity) (done func()) {
	if r == nil {
		return func() {}
	}
	ps := make([]*poll, 0, len(rooms))
	r.mu.Lock()
	for _, room := range rooms {
		if r.closed {
			break
		}
		k := pollKey{client, room}
		p := r.polls[k]
		if p == nil {
			p = &poll{key: k, conn: r.newConn(room, id, LongPoll)}
			p.entry.Value = p
			r.polls[k] = p
			r.enterLocked(p.conn)
		}
		p.held++
		r.sched.Remove(&p.entry)
		ps = append(ps, p)
	}
	r.mu.Unlock()
	return func() {
		at := time.Now().Add(r.cfg.PollGrace)
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, p := range ps {
			p.held--
			if p.held == 0 && r.polls[p.key] == p {
				r.sched.Reset(&p.entry, at)
			}
		}
	}
}

// PollClient is the key of a long-poll client: its subject for a token or
// an API key, and for an anonymous client its network address without
// the port (anonymous clients behind one address count as one).
func PollClient(id auth.Identity, remoteIP string) string {
	if id.Anonymous {
		return "ip:" + remoteIP
	}
	return "sub:" + id.Subject
}

// pollExpired is the Scheduler's callback: the client's grace is over.
func (r *Registry) pollExpired(p *poll, _, _ time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.held > 0 || r.polls[p.key] != p {
		return time.Time{} // a poll arrived as the grace ran out
	}
	delete(r.polls, p.key)
	p.conn.left.Store(true)
	r.leaveLocked(p.conn)
	return time.Time{}
}
