package socketio

import (
	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/socketio/protocol"
	"github.com/rtbroker/rtbroker/gateways/typing"
)

// Typing indicators. typing:start {room} and typing:stop {room} are
// always ephemeral (never logged, no offset, whatever `ephemeral` says),
// checked like any publish (publish permission, publish rate), and sent
// to the room's other subscribers: a socket is never sent its own
// identity's typing events. The gateway's typing.Tracker sends the room a
// typing:stop {reason: "timeout"} when a typist sends no typing:start
// within its timeout, and {reason: "disconnect"} when the typist's
// socket disconnects (a DISCONNECT, a closed or dropped connection, a
// missed heartbeat, shutdown). Acked {ok: true, ephemeral: true}.

// initTyping sets the gateway's tracker: cfg.Typing, or one of its own
// (with the package's defaults), which Close closes.
func (g *Gateway) initTyping() {
	g.typing = g.cfg.Typing
	if g.typing == nil {
		g.typing = typing.New(g.b, typing.Config{})
		g.ownsTyping = true
	}
}

// closeTyping closes the tracker if the gateway made it. After every
// socket has disconnected (and stopped its typists).
func (g *Gateway) closeTyping() {
	if g.ownsTyping {
		g.typing.Close()
	}
}

// onTyping handles typing:start and typing:stop.
func (g *Gateway) onTyping(m *member, ev *protocol.Event) {
	msg, _, err := g.message(m, ev)
	if err != nil {
		m.finish(ev, nil, err)
		return
	}
	if ev.Name == typing.StartType {
		err = g.typing.Start(msg.Room, msg.From, m)
	} else {
		g.typing.Forget(msg.Room, msg.From) // before the stop: the server's cannot follow it
	}
	if err == nil {
		if _, err = g.b.PublishEphemeral(msg); err != nil && ev.Name == typing.StartType {
			g.typing.Forget(msg.Room, msg.From)
		}
	}
	m.finish(ev, ephemeralAck{OK: true, Ephemeral: true}, err)
}

// ownTyping reports whether ev is a typing event of the member's own
// identity, which its socket is not sent.
func (m *member) ownTyping(ev *broker.Event) bool {
	return ev.Offset == 0 && typing.IsTyping(ev.Type) && ev.From == m.id.Subject
}
