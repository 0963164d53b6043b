package broker

import (
	"strconv"
)

// Position is a point in a log: everything up to and including Offset has
// been seen. Offset 0 is before the first event. Epoch names the log
// instance; an empty Epoch means "the current log" (the caller did not know
// or keep it).
type Position struct {
	Epoch  string `json:"epoch,omitempty"`
	Offset uint64 `json:"offset"`
}

func (p Position) String() string {
	if p.Epoch == "" {
		return strconv.FormatUint(p.Offset, 10)
	}
	return p.Epoch + ":" + strconv.FormatUint(p.Offset, 10)
}

// maxOffsetDigits is len("18446744073709551615").
const maxOffsetDigits = 20

// ParseOffset parses the decimal offset used on the wire (`after=`,
// `Last-Event-ID`, Socket.IO `after`). It accepts only ASCII digits, at most
// 20 of them, with a value that fits in uint64; the empty string is an
// error. The returned error wraps ErrInvalid.
func ParseOffset(s string) (uint64, error) {
	if s == "" {
		return 0, invalid("offset", "empty")
	}
	if len(s) > maxOffsetDigits {
		return 0, invalid("offset", "more than %d digits", maxOffsetDigits)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, invalid("offset", "not a decimal number")
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, invalid("offset", "out of range")
	}
	return n, nil
}
