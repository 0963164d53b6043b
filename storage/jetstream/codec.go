package jetstream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rtbroker/rtbroker/broker"
)

// RoomToken returns the NATS subject token (and key-value key part) of a
// room or state key: letters, digits, `_`, `-` and `/` stay as they are
// (all are allowed in subject tokens and key-value keys); every other
// byte, `.` (the token separator), `:` and `@` among them, is written
// =XX in upper-case hex. `=` itself is escaped, so the mapping is one to
// one (see TokenRoom), and the token of a prefix is a prefix of the
// token.
func RoomToken(name string) string {
	plain := true
	for i := 0; i < len(name) && plain; i++ {
		plain = plainByte(name[i])
	}
	if plain {
		return name
	}
	const hexdig = "0123456789ABCDEF"
	b := make([]byte, 0, len(name)+16)
	for i := 0; i < len(name); i++ {
		if c := name[i]; plainByte(c) {
			b = append(b, c)
		} else {
			b = append(b, '=', hexdig[c>>4], hexdig[c&15])
		}
	}
	return string(b)
}

func plainByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '/'
}

// TokenRoom reverses RoomToken. It fails on anything RoomToken does not
// write.
func TokenRoom(tok string) (string, error) {
	if !strings.Contains(tok, "=") {
		return tok, nil
	}
	b := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		if tok[i] != '=' {
			b = append(b, tok[i])
			continue
		}
		if i+2 >= len(tok) {
			return "", fmt.Errorf("token %q: short escape", tok)
		}
		v, err := strconv.ParseUint(tok[i+1:i+3], 16, 8)
		if err != nil || plainByte(byte(v)) || strings.ToUpper(tok[i+1:i+3]) != tok[i+1:i+3] {
			return "", fmt.Errorf("token %q: bad escape %q", tok, tok[i:i+3])
		}
		b = append(b, byte(v))
		i += 2
	}
	return string(b), nil
}

// An event's message body: version byte, ID (16), Time (8, Unix ns, big
// endian), uvarint length + Type, uvarint length + From, uvarint length +
// idempotency key, then Data to the end. The room is the subject and the
// offset the stream sequence.
const codecVersion = 1

var errCorrupt = errors.New("jetstream: corrupt event message")

func encodeEvent(e *broker.Entry) []byte {
	b := make([]byte, 0, 1+16+8+3*binary.MaxVarintLen16+len(e.Type)+len(e.From)+len(e.IdempotencyKey)+len(e.Data))
	b = append(b, codecVersion)
	b = append(b, e.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixNano()))
	for _, s := range []string{e.Type, e.From, e.IdempotencyKey} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return append(b, e.Data...)
}

// decodeEvent decodes body; the event's Data is a copy, owned by the
// event. It also returns the idempotency key.
func decodeEvent(off uint64, room string, body []byte) (*broker.Event, string, error) {
	if len(body) < 1+16+8 || body[0] != codecVersion {
		return nil, "", errCorrupt
	}
	e := &broker.Event{Offset: off, Room: room}
	copy(e.ID[:], body[1:17])
	e.Time = time.Unix(0, int64(binary.BigEndian.Uint64(body[17:25]))).UTC()
	rest := body[25:]
	var strs [3]string
	for i := range strs {
		n, k := binary.Uvarint(rest)
		if k <= 0 || uint64(len(rest)-k) < n {
			return nil, "", errCorrupt
		}
		strs[i] = string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
	}
	e.Type, e.From = strs[0], strs[1]
	if len(rest) > 0 {
		e.Data = append([]byte(nil), rest...)
	}
	return e, strs[2], nil
}

// idemValue is the idempotency record of an event: its offset (8 bytes)
// and its message body.
func idemValue(off uint64, body []byte) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(body)), off), body...)
}

func decodeIdem(room string, v []byte) (*broker.Event, error) {
	if len(v) < 8 {
		return nil, errCorrupt
	}
	e, _, err := decodeEvent(binary.BigEndian.Uint64(v), room, v[8:])
	return e, err
}
