package httpapi

import (
	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/typing"
)

// Typing indicators over HTTP. A publish of type typing:start or
// typing:stop is ephemeral whatever its "ephemeral" says (answered 202,
// never logged) and cannot be batched. With Config.Typing, a
// typing:start is tracked as on Socket.IO: unless another typing:start
// from the same identity follows within the tracker's timeout, the room
// gets a typing:stop {"reason": "timeout"} from the typist; a
// typing:stop forgets it. (An HTTP request holds no connection to the
// room, so there is no stop at disconnect.)

// typingBefore prepares an ephemeral publish of m: it records the typist
// of a typing:start (a *wire.RateLimited error over the tracker's cap)
// and forgets the typist of a typing:stop, before the event is sent.
func (h *Handler) typingBefore(m broker.Message) error {
	switch {
	case h.cfg.Typing == nil:
	case m.Type == typing.StartType:
		return h.cfg.Typing.Start(m.Room, m.From, nil)
	case m.Type == typing.StopType:
		h.cfg.Typing.Forget(m.Room, m.From)
	}
	return nil
}

// typingFailed forgets the typist of a typing:start that could not be
// sent.
func (h *Handler) typingFailed(m broker.Message) {
	if h.cfg.Typing != nil && m.Type == typing.StartType {
		h.cfg.Typing.Forget(m.Room, m.From)
	}
}
