package socketio

import (
	"encoding/json"
	"slices"
	"sync"

	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
	"github.com/rtbroker/rtbroker/gateways/presence"
	"github.com/rtbroker/rtbroker/gateways/socketio/protocol"
)

// sioPresence keeps the presence (GatewayConfig.Presence) of the
// gateway's members in step with the rooms of their sessions: a socket is
// present in each room it is in, from its join (or its connect, for the
// auto-joined and recovered rooms) until it leaves the room or
// disconnects; and it receives the presence events of the rooms it asked
// for (sessionRecord.Presence) while it keeps the presence permission.
type sioPresence struct {
	reg *presence.Registry // nil: presence is not tracked
	mu  sync.Mutex         // guards member.pres of every member
}

// A member's presence in its rooms is a slice of the registry's
// connections (member.pres; each knows its room), not a map: a socket is
// in a few rooms, and at 10,000 idle sockets an inner map cost ~250 bytes
// each against 8 for a slice of one. The slice is the member's own, not a
// value of a map by member, which cost each socket ~80 bytes more.

func newSIOPresence(reg *presence.Registry) *sioPresence {
	return &sioPresence{reg: reg}
}

// sync enters the rooms of m's session it is not present in yet and
// leaves those it is no longer in; once m has ended it leaves them all.
// With the member's state (m.rec), or before the member started.
func (p *sioPresence) sync(m *member) {
	if p.reg == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var have []*presence.Conn
	if m.pres != nil {
		have = *m.pres
	}
	if m.ended.Load() {
		p.dropLocked(m)
		return
	}
	for room := range m.rec.Rooms.all() {
		// Before the Enter below, so a socket that asked sees its own
		// presence:join.
		m.sub.OptIn(room, m.rec.Presence[room] && m.id.Can(auth.Presence, room))
	}
	kept := have[:0]
	for _, c := range have {
		if !m.rec.Rooms.has(c.Room()) {
			c.Leave()
			continue
		}
		kept = append(kept, c)
	}
	clear(have[len(kept):])
	have = kept
	for room := range m.rec.Rooms.all() {
		if slices.ContainsFunc(have, func(c *presence.Conn) bool { return c.Room() == room }) {
			continue
		}
		if have == nil {
			have = make([]*presence.Conn, 0, len(m.rec.Rooms))
		}
		have = append(have, p.reg.Enter(room, m.id, presence.SocketIO)) // never nil: p.reg is set
	}
	switch {
	case len(have) == 0:
		m.pres = nil
	default:
		if m.pres == nil {
			m.pres = new([]*presence.Conn) // a word in the member, not a slice's three
		}
		*m.pres = have
	}
}

// drop leaves every room of m: its socket disconnected (m has ended).
func (p *sioPresence) drop(m *member) {
	if p.reg == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropLocked(m)
}

func (p *sioPresence) dropLocked(m *member) {
	if m.pres == nil {
		return
	}
	for _, c := range *m.pres {
		c.Leave()
	}
	m.pres = nil
}

// presenceAck answers room:presence: {ok, room, count, anonymous,
// listed, members: [{user, connections, since, transports}]}.
type presenceAck struct {
	OK bool `json:"ok"`
	presence.Snapshot
}

// onPresence answers room:presence {room} with who is in the room, in
// the order of the socket's other joins and leaves. The socket's identity
// needs the presence permission on the room (else the ack is forbidden);
// it need not have joined it. Without a Registry the room is empty.
func (g *Gateway) onPresence(m *member, ev *protocol.Event) {
	room, logRoom, _, err := m.ns.roomEvent(ev)
	if err == nil {
		err = m.id.Check(auth.Presence, logRoom)
	}
	if err != nil {
		m.finish(ev, nil, err)
		return
	}
	m.enqueue(func() {
		ack := presenceAck{OK: true, Snapshot: presence.Snapshot{Listed: true, Members: []presence.Member{}}}
		if reg := g.presence.reg; reg != nil {
			ack.Snapshot = reg.Snapshot(logRoom)
		}
		ack.Room = room
		m.finish(ev, ack, nil)
	})
}

// joinPresence reads room:join's presence field: true asks for the room's
// presence:join and presence:leave events, which needs the presence
// permission on logRoom (else forbidden, naming the room); false, null or
// absent does not; anything else is invalid_argument.
func joinPresence(fields map[string]json.RawMessage, id auth.Identity, logRoom string) (bool, error) {
	switch string(fields[presence.Param]) {
	case "", "null", "false":
		return false, nil
	case "true":
		return true, presence.Check(id, logRoom)
	}
	return false, wire.BadRequest("presence must be true or false")
}
