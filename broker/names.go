package broker

// Name limits. Room and type names travel in URLs, SSE `event:` lines and
// Socket.IO event names, so they are short and drawn from a safe alphabet.
const (
	MaxRoomLen = 128
	MaxTypeLen = 64
)

// ValidateRoom reports whether name is a valid room name: 1 to 128 bytes of
// ASCII letters, digits and `_ - . : @`. The error wraps ErrInvalid.
//
// Names starting with InternalPrefix are reserved: clients can neither
// name nor list such rooms (see ValidatePublicRoom). Nothing is logged in
// them any more (what the server knows about clients lives in the State
// beside the log); the bbolt file's migration from format 2 removes the
// Socket.IO session records that format kept in "_sio.sessions".
func ValidateRoom(name string) error { return validateName("room", name, MaxRoomLen) }

// InternalPrefix starts the names of internal rooms.
const InternalPrefix = "_"

// IsInternalRoom reports whether name is an internal room.
func IsInternalRoom(name string) bool { return len(name) > 0 && name[0] == InternalPrefix[0] }

// ValidatePublicRoom is ValidateRoom for names that come from clients: it
// also refuses internal rooms. The error wraps ErrInvalid.
func ValidatePublicRoom(name string) error {
	if err := ValidateRoom(name); err != nil {
		return err
	}
	if IsInternalRoom(name) {
		return invalid("room", "names starting with %q are reserved", InternalPrefix)
	}
	return nil
}

// ValidateType reports whether name is a valid event type: 1 to 64 bytes of
// ASCII letters, digits and `_ - . : @`, and not a reserved name (see
// ReservedType). The error wraps ErrInvalid.
func ValidateType(name string) error {
	if err := validateName("type", name, MaxTypeLen); err != nil {
		return err
	}
	if ReservedType(name) {
		return invalid("type", "%q is reserved", name)
	}
	return nil
}

// ReservedType reports whether an event type is reserved because clients
// give it another meaning: EventSource's own events (open, error), the SSE
// gateway's reset event, Socket.IO's reserved events (connect,
// connect_error, disconnect, disconnecting, newListener, removeListener),
// the broker's Socket.IO control events (room:join, room:leave,
// room:presence) and the events only the server sends (presence:join,
// presence:leave; see Broker.Announce).
func ReservedType(name string) bool {
	switch name {
	case "open", "error", "reset",
		"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
		"room:join", "room:leave",
		"room:presence", "presence:join", "presence:leave": // see Broker.Announce
		return true
	}
	return false
}

func validateName(field, name string, max int) error {
	if name == "" {
		return invalid(field, "empty")
	}
	if len(name) > max {
		return invalid(field, "longer than %d bytes", max)
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			return invalid(field, "character %q not allowed (use letters, digits and _-.:@)", name[i])
		}
	}
	return nil
}

func nameByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '_', '-', '.', ':', '@':
		return true
	}
	return false
}
