package broker

// Name limits. Room and type names travel in URLs, SSE `event:` lines and
// Socket.IO event names, so they are short and drawn from a safe alphabet.
const (
	MaxRoomLen = 128
	MaxTypeLen = 64
)

// ValidateRoom reports whether name is a valid room name: 1 to 128 bytes of
// ASCII letters, digits and `_ - . : @`. The error wraps ErrInvalid.
func ValidateRoom(name string) error { return validateName("room", name, MaxRoomLen) }

// ValidateType reports whether name is a valid event type: 1 to 64 bytes of
// ASCII letters, digits and `_ - . : @`. The error wraps ErrInvalid.
func ValidateType(name string) error { return validateName("type", name, MaxTypeLen) }

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
