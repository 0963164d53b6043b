package socketio

import (
	"context"
	"strings"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
	"github.com/rtbroker/rtbroker/gateways/receipts"
	"github.com/rtbroker/rtbroker/gateways/socketio/protocol"
)

// readAck answers room:read: the socket's read position in the room after
// the call, and whether the call moved it.
type readAck struct {
	OK     bool   `json:"ok"`
	Room   string `json:"room"`
	Offset uint64 `json:"offset"`
	Moved  bool   `json:"moved"`
}

// roomsAck answers me:rooms: see receipts.Listing.
type roomsAck struct {
	OK        bool              `json:"ok"`
	Rooms     []receipts.Unread `json:"rooms"`
	Truncated bool              `json:"truncated"`
}

// onRead handles room:read {room, offset}: it moves the identity's read
// position in the room forward (receipts.Service.Mark) and acks {ok, room,
// offset, moved}; a lower or equal offset changes nothing and acks the
// stored position with moved: false. The room's subscribers are sent the
// ephemeral `receipt` {user, offset} when it moves. The write is durable
// before the ack; it runs on the member's command goroutine, after the
// joins and leaves sent before it.
func (g *Gateway) onRead(m *member, ev *protocol.Event) {
	room, logRoom, fields, err := m.ns.roomEvent(ev)
	if err != nil {
		m.finish(ev, nil, err)
		return
	}
	raw, ok := fields["offset"]
	off, perr := broker.ParseOffset(strings.Trim(string(raw), `"`))
	if !ok || perr != nil {
		m.finish(ev, nil, wire.BadRequest("offset must be an offset (a whole number)"))
		return
	}
	m.enqueue(func() {
		ctx, cancel := context.WithTimeout(g.ctx, g.cfg.PublishTimeout)
		defer cancel()
		mk, err := g.receipts.Mark(ctx, m.id, logRoom, off)
		if err != nil {
			m.finish(ev, nil, err)
			return
		}
		m.finish(ev, readAck{OK: true, Room: room, Offset: mk.Offset, Moved: mk.Moved}, nil)
	})
}

// onMyRooms handles me:rooms: it acks {ok, rooms: [{room, head, read,
// unread[, unread_capped]}], truncated} for the namespace's rooms the
// identity may read (receipts.Service.List), with client room names.
func (g *Gateway) onMyRooms(m *member, ev *protocol.Event) {
	m.enqueue(func() {
		ctx, cancel := context.WithTimeout(g.ctx, g.cfg.PublishTimeout)
		defer cancel()
		l, err := g.receipts.List(ctx, m.id, m.ns.prefix)
		if err != nil {
			m.finish(ev, nil, err)
			return
		}
		m.finish(ev, roomsAck{OK: true, Rooms: l.Rooms, Truncated: l.Truncated}, nil)
	})
}
