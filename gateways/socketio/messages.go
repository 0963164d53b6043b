package socketio

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
	"github.com/rtbroker/rtbroker/gateways/limit"
	"github.com/rtbroker/rtbroker/gateways/messages"
	"github.com/rtbroker/rtbroker/gateways/socketio/protocol"
)

// onChange handles the change events (see messages.Service):
//
//	message:edit   {room, id, offset, data}  ack {ok, offset, id} (of the edit event)
//	message:delete {room, id, offset}        ack {ok, offset, id} (of the delete event)
//
// id and offset are the message's (from the meta of the event received,
// or a publish ack); offset may be a number or a string. The change is
// logged like any event, so the room's subscribers receive it as
// socket.on("message:edit", (data, meta)) with data {id, offset, data}
// (message:delete: {id, offset}). Errors are acked as for a publish:
// invalid_argument, forbidden (neither the author, nor the moderator role,
// nor an API key), not_found (no such message in the room, trimmed, or
// deleted), rate_limited (the publish rate). It runs on the member's
// command goroutine: the ack waits for the commit.
func (g *Gateway) onChange(m *member, ev *protocol.Event) {
	if len(ev.Attachments) > 0 && len(ev.Args) > 0 {
		// Bytes in the new data are logged as {"$binary": base64}, as in a publish.
		arg, err := checkAttachments(ev.Args[0], ev.Attachments)
		if err != nil {
			m.finish(ev, nil, wire.BadRequest(err.Error()))
			return
		}
		ev.Args[0] = arg
	}
	_, logRoom, fields, err := m.ns.roomEvent(ev)
	if err != nil {
		m.finish(ev, nil, err)
		return
	}
	var id string
	if err := json.Unmarshal(fields["id"], &id); err != nil {
		m.finish(ev, nil, wire.BadRequest("id must be the message's id (a string)"))
		return
	}
	ref, err := messages.ParseRef(id, strings.Trim(string(fields["offset"]), `"`))
	if err != nil {
		m.finish(ev, nil, err)
		return
	}
	data, hasData := fields["data"]
	if ev.Name == messages.DeleteType && hasData {
		m.finish(ev, nil, wire.BadRequest("message:delete takes {room, id, offset}, no data"))
		return
	}
	if key, limited := limit.PublishKey(m.id, m.s.Request().RemoteAddr); limited {
		if ok, wait := g.cfg.PublishLimit.Allow(key); !ok {
			m.finish(ev, nil, &wire.RateLimited{Wait: wait})
			return
		}
	}
	m.enqueue(func() {
		ctx, cancel := context.WithTimeout(g.ctx, g.cfg.PublishTimeout)
		defer cancel()
		var e *broker.Event
		if ev.Name == messages.EditType {
			e, err = g.msgs.Edit(ctx, m.id, logRoom, ref, data)
		} else {
			e, err = g.msgs.Delete(ctx, m.id, logRoom, ref)
		}
		if err != nil {
			m.finish(ev, nil, err)
			return
		}
		m.finish(ev, publishAck{OK: true, Offset: e.Offset, ID: e.ID.String()}, nil)
	})
}
