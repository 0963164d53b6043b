package socketio

// The gateway's answers, as the client receives them (JSON objects).

// joinAck answers room:join: where the room starts, and whether it starts
// exactly where the client asked (recovered) or, with Reset, where
// instead.
type joinAck struct {
	OK        bool       `json:"ok"`
	Room      string     `json:"room"`
	Head      uint64     `json:"head"`
	Epoch     string     `json:"epoch"`
	Recovered bool       `json:"recovered"`
	Reset     *resetInfo `json:"reset,omitempty"`
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
type errorAck struct {
	OK    bool      `json:"ok"`
	Error errorInfo `json:"error"`
}

// errorInfo is the error object of errorAck, of connect_error data and
// of the ErrorEvent (which names the failed event).
type errorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
	Event   string `json:"event,omitempty"`
}

// resetInfo says that a room could not start (join ack) or continue
// (`reset` event) exactly where it was: the offset requested and the one
// it resumes from; the `reset` event also names the rooms and the epoch.
type resetInfo struct {
	Reason    string   `json:"reason"`
	Rooms     []string `json:"rooms,omitempty"`
	Requested uint64   `json:"requested"`
	Resume    uint64   `json:"resume"`
	Epoch     string   `json:"epoch,omitempty"`
}
