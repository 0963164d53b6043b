package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// EncodeEvent returns the encoding of an EVENT packet for namespace ("/"
// or "" for the main namespace) with the given arguments, to be written to
// any number of sockets of that namespace with Socket.WriteRaw. Arguments
// are encoded as by Socket.Emit: a top-level []byte argument makes the
// packet a BINARY_EVENT, returned as a multi-frame packet (the text
// packet, a NUL byte, then each attachment as its length, an unsigned
// varint, and its bytes) that WriteRaw sends as several messages. The
// returned slice is owned by the caller; it must not be modified once
// handed to WriteRaw.
func EncodeEvent(namespace, event string, args ...any) ([]byte, error) {
	buf, atts, err := appendEvent(nil, namespace, false, 0, event, args)
	if err != nil || len(atts) == 0 {
		return buf, err
	}
	return JoinFrames(buf, atts), nil
}

// countBinary returns how many top-level arguments are []byte.
func countBinary(args []any) int {
	n := 0
	for _, a := range args {
		if _, ok := a.([]byte); ok {
			n++
		}
	}
	return n
}

// appendEvent appends an EVENT (BINARY_EVENT when an argument is []byte)
// and returns the attachments.
func appendEvent(dst []byte, nsp string, hasID bool, id uint64, event string, args []any) ([]byte, [][]byte, error) {
	t := PacketEvent
	n := countBinary(args)
	if n > 0 {
		t = PacketBinaryEvent
	}
	dst = AppendHeader(dst, t, n, nsp, hasID, id)
	dst = append(dst, '[')
	dst = AppendString(dst, event)
	var atts [][]byte
	if n > 0 {
		atts = make([][]byte, 0, n)
	}
	for _, a := range args {
		dst = append(dst, ',')
		var err error
		if dst, atts, err = appendArg(dst, a, atts); err != nil {
			return nil, nil, err
		}
	}
	return append(dst, ']'), atts, nil
}

// appendAck appends an ACK (BINARY_ACK when an argument is []byte).
func appendAck(dst []byte, nsp string, id uint64, args []any) ([]byte, [][]byte, error) {
	t := PacketAck
	n := countBinary(args)
	if n > 0 {
		t = PacketBinaryAck
	}
	dst = AppendHeader(dst, t, n, nsp, true, id)
	dst = append(dst, '[')
	var atts [][]byte
	for i, a := range args {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, atts, err = appendArg(dst, a, atts); err != nil {
			return nil, nil, err
		}
	}
	return append(dst, ']'), atts, nil
}

// appendArg appends the JSON encoding of v. A []byte becomes a binary
// placeholder and is appended to atts; a json.RawMessage is copied
// verbatim; anything else goes through encoding/json (without HTML
// escaping, like JSON.stringify).
func appendArg(dst []byte, v any, atts [][]byte) ([]byte, [][]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), atts, nil
	case []byte:
		dst = append(dst, `{"_placeholder":true,"num":`...)
		dst = strconv.AppendInt(dst, int64(len(atts)), 10)
		return append(dst, '}'), append(atts, v), nil
	case json.RawMessage:
		if len(v) == 0 {
			return append(dst, "null"...), atts, nil
		}
		return append(dst, v...), atts, nil
	case string:
		return AppendString(dst, v), atts, nil
	case bool:
		return strconv.AppendBool(dst, v), atts, nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), atts, nil
	case int64:
		return strconv.AppendInt(dst, v, 10), atts, nil
	case uint64:
		return strconv.AppendUint(dst, v, 10), atts, nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, nil, fmt.Errorf("socketio: encode argument: %w", err)
	}
	return append(dst, bytes.TrimRight(b.Bytes(), "\n")...), atts, nil
}

// appendString appends s as a JSON string, escaping like encoding/json
// but without HTML escaping; invalid UTF-8 becomes U+FFFD.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
