package socketio

import "github.com/rtbroker/rtbroker/gateways/internal/wire"

// The gateway's answers, as the client receives them (JSON objects),
// built on the vocabulary every gateway shares (gateways/internal/wire).

// joinAck answers room:join: where the room starts, and whether it starts
// exactly where the client asked (recovered) or, with Reset, where
// instead: {reason, requested, resume} (the ack names the room and the
// epoch).
type joinAck struct {
	OK        bool        `json:"ok"`
	Room      string      `json:"room"`
	Head      uint64      `json:"head"`
	Epoch     string      `json:"epoch"`
	Recovered bool        `json:"recovered"`
	Start     uint64      `json:"start"` // the room's events after this offset are sent
	Reset     *wire.Reset `json:"reset,omitempty"`
	Presence  bool        `json:"presence,omitempty"` // the socket receives the room's presence:join and presence:leave
}

// leaveAck answers room:leave.
type leaveAck struct {
	OK   bool   `json:"ok"`
	Room string `json:"room"`
}

// publishAck answers a publish once it is durable.
type publishAck struct {
	OK     bool   `json:"ok"`
	Offset uint64 `json:"offset"`
	ID     string `json:"id"`
}

// ephemeralAck answers an ephemeral publish once it is sent.
type ephemeralAck struct {
	OK        bool `json:"ok"`
	Ephemeral bool `json:"ephemeral"`
}

// errorAck answers an event that failed: {ok: false, error: {code, message}}.
// The same error object is connect_error's data and, naming the failed
// event, the ErrorEvent's payload.
type errorAck struct {
	OK    bool           `json:"ok"`
	Error wire.ErrorBody `json:"error"`
}
