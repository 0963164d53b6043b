package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// PacketType is a Socket.IO packet type.
type PacketType byte

// The seven Socket.IO v5 packet types.
const (
	PacketConnect      PacketType = 0
	PacketDisconnect   PacketType = 1
	PacketEvent        PacketType = 2
	PacketAck          PacketType = 3
	PacketConnectError PacketType = 4
	PacketBinaryEvent  PacketType = 5
	PacketBinaryAck    PacketType = 6
)

func (t PacketType) binary() bool { return t == PacketBinaryEvent || t == PacketBinaryAck }

// Packet is one Socket.IO packet.
type Packet struct {
	Type PacketType
	// Namespace is the namespace name, "/" for the main namespace.
	Namespace string
	// ID is the acknowledgement id, meaningful when HasID is true.
	ID    uint64
	HasID bool
	// Data is the JSON payload, nil when absent. Binary placeholders
	// ({"_placeholder":true,"num":N}) are kept verbatim.
	Data json.RawMessage
	// Args are the elements of Data for EVENT and ACK packets (for an
	// EVENT, Args[0] is the event name). They alias Data.
	Args []json.RawMessage
	// Attachments are the binary attachments of a BINARY_EVENT or
	// BINARY_ACK, in placeholder order.
	Attachments [][]byte
}

// ErrInvalidPacket is wrapped by every decoding error.
var ErrInvalidPacket = errors.New("socketio: invalid packet")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidPacket, fmt.Sprintf(format, args...))
}

// reservedEvents cannot be sent by a client.
var reservedEvents = [...]string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}

// Decoder turns engine messages into packets, reassembling binary
// attachments. It is not safe for concurrent use: one per connection.
type Decoder struct {
	// MaxAttachments caps the attachments of one packet (default 10).
	MaxAttachments int

	pending *Packet // awaiting cap(pending.Attachments) attachments
}

// Decode takes the next engine message. It returns the complete packet,
// or nil when more attachments are awaited. Any protocol violation (an
// invalid packet, text while attachments are awaited, binary data when
// none is) returns an error wrapping ErrInvalidPacket; the connection
// should then be closed. The packet keeps references to data.
func (d *Decoder) Decode(data []byte, binary bool) (*Packet, error) {
	if binary {
		if d.pending == nil {
			return nil, invalid("unexpected binary data")
		}
		d.pending.Attachments = append(d.pending.Attachments, data)
		if len(d.pending.Attachments) < cap(d.pending.Attachments) {
			return nil, nil
		}
		p := d.pending
		d.pending = nil
		return p, nil
	}
	if d.pending != nil {
		return nil, invalid("text data while reconstructing a binary packet")
	}
	max := d.MaxAttachments
	if max <= 0 {
		max = 10
	}
	p, n, err := decodeText(data, max)
	if err != nil {
		return nil, err
	}
	if p.Type.binary() && n > 0 {
		p.Attachments = make([][]byte, 0, n)
		d.pending = p
		return nil, nil
	}
	return p, nil
}

// Reset drops a partially received binary packet.
func (d *Decoder) Reset() { d.pending = nil }

// DecodePacket decodes one text-encoded packet. For binary types the
// attachment count is returned and Attachments is left empty.
func DecodePacket(text []byte, maxAttachments int) (*Packet, int, error) {
	return decodeText(text, maxAttachments)
}

func decodeText(s []byte, maxAttachments int) (*Packet, int, error) {
	if len(s) == 0 || s[0] < '0' || s[0] > '6' {
		return nil, 0, invalid("unknown packet type")
	}
	p := &Packet{Type: PacketType(s[0] - '0'), Namespace: "/"}
	i := 1
	n := 0
	if p.Type.binary() {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i || j == len(s) || s[j] != '-' || j-i > 6 {
			return nil, 0, invalid("illegal attachments")
		}
		n, _ = strconv.Atoi(string(s[i:j]))
		if n > maxAttachments {
			return nil, 0, invalid("too many attachments")
		}
		i = j + 1
	}
	if i < len(s) && s[i] == '/' {
		j := bytes.IndexByte(s[i:], ',')
		if j < 0 {
			p.Namespace = string(s[i:])
			i = len(s)
		} else {
			p.Namespace = string(s[i : i+j])
			i += j + 1
		}
	}
	if j := i; j < len(s) && s[j] >= '0' && s[j] <= '9' {
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		id, err := strconv.ParseUint(string(s[i:j]), 10, 64)
		if err != nil {
			return nil, 0, invalid("invalid ack id")
		}
		p.ID, p.HasID = id, true
		i = j
	}
	if i < len(s) {
		p.Data = s[i:]
		if !json.Valid(p.Data) {
			return nil, 0, invalid("invalid JSON payload")
		}
	}
	if err := p.validate(n); err != nil {
		return nil, 0, err
	}
	return p, n, nil
}

// validate checks the payload's shape for the packet type, and splits
// EVENT and ACK arrays into Args. Data is valid JSON.
func (p *Packet) validate(attachments int) error {
	first := firstByte(p.Data)
	switch p.Type {
	case PacketConnect:
		if p.Data != nil && first != '{' {
			return invalid("CONNECT payload must be an object")
		}
	case PacketDisconnect:
		if p.Data != nil {
			return invalid("DISCONNECT has no payload")
		}
	case PacketConnectError:
		if first != '{' && first != '"' {
			return invalid("CONNECT_ERROR payload must be an object or a string")
		}
	case PacketEvent, PacketBinaryEvent, PacketAck, PacketBinaryAck:
		if first != '[' {
			return invalid("payload must be an array")
		}
		p.Args = splitArray(p.Data, nil)
		if p.Type == PacketEvent || p.Type == PacketBinaryEvent {
			if len(p.Args) == 0 {
				return invalid("event without a name")
			}
			if _, ok := eventName(p.Args[0]); !ok {
				return invalid("invalid event name")
			}
		}
		if p.Type.binary() {
			return checkPlaceholders(p.Data, attachments)
		}
	}
	return nil
}

func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return c
		}
	}
	return 0
}

// eventName returns the event name of an EVENT's first element: a string
// that is not reserved, or a number (kept as its JSON text).
func eventName(raw json.RawMessage) (string, bool) {
	switch c := firstByte(raw); {
	case c == '"':
		var name string
		if err := json.Unmarshal(raw, &name); err != nil {
			return "", false
		}
		for _, r := range reservedEvents {
			if name == r {
				return "", false
			}
		}
		return name, true
	case c == '-' || (c >= '0' && c <= '9'):
		return string(bytes.TrimSpace(raw)), true
	}
	return "", false
}

// splitArray appends the elements of the JSON array a (valid JSON) to dst,
// without copying: each element aliases a.
func splitArray(a []byte, dst []json.RawMessage) []json.RawMessage {
	i := bytes.IndexByte(a, '[') + 1
	depth := 0
	start := -1
	inStr := false
	for ; i < len(a); i++ {
		c := a[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			inStr = true
		case '[', '{':
			depth++
		case ']', '}':
			if depth == 0 { // the closing bracket of a
				if start >= 0 {
					dst = append(dst, trimRight(a[start:i]))
				}
				return dst
			}
			depth--
		case ',':
			if depth == 0 {
				dst = append(dst, trimRight(a[start:i]))
				start = -1
				continue
			}
		}
		if start < 0 {
			start = i
		}
	}
	return dst
}

func trimRight(b []byte) json.RawMessage {
	return bytes.TrimRight(b, " \t\n\r")
}

// placeholder is the JSON object standing for a binary attachment.
type placeholder struct {
	Placeholder bool     `json:"_placeholder"`
	Num         *float64 `json:"num"`
}

// checkPlaceholders verifies that every placeholder object in data refers
// to an attachment that exists (like the Node.js reconstructor).
func checkPlaceholders(data []byte, attachments int) error {
	if !bytes.Contains(data, []byte(`"_placeholder"`)) {
		return nil
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return invalid("invalid JSON payload")
	}
	return walkPlaceholders(v, attachments, 0)
}

func walkPlaceholders(v any, n, depth int) error {
	if depth > 1000 {
		return invalid("payload too deep")
	}
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if err := walkPlaceholders(e, n, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		if b, ok := v["_placeholder"].(bool); ok && b {
			num, ok := v["num"].(float64)
			if !ok || num != float64(int(num)) || num < 0 || int(num) >= n {
				return invalid("illegal attachments")
			}
			return nil
		}
		for _, e := range v {
			if err := walkPlaceholders(e, n, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// PlaceholderNum reports whether raw is a binary placeholder object and
// which attachment it stands for.
func PlaceholderNum(raw json.RawMessage) (int, bool) {
	if firstByte(raw) != '{' || !bytes.Contains(raw, []byte(`"_placeholder"`)) {
		return 0, false
	}
	var ph placeholder
	if err := json.Unmarshal(raw, &ph); err != nil || !ph.Placeholder || ph.Num == nil {
		return 0, false
	}
	n := *ph.Num
	if n < 0 || n != float64(int(n)) {
		return 0, false
	}
	return int(n), true
}

// AppendPacket appends the text encoding of p to dst: the type, the
// attachment count for binary types (len(p.Attachments)), the namespace
// unless it is "/", the ack id, then p.Data verbatim. The attachments
// themselves are sent as separate binary messages after it.
func AppendPacket(dst []byte, p *Packet) []byte {
	dst = AppendHeader(dst, p.Type, len(p.Attachments), p.Namespace, p.HasID, p.ID)
	return append(dst, p.Data...)
}

func AppendHeader(dst []byte, t PacketType, attachments int, nsp string, hasID bool, id uint64) []byte {
	dst = append(dst, '0'+byte(t))
	if t.binary() {
		dst = strconv.AppendInt(dst, int64(attachments), 10)
		dst = append(dst, '-')
	}
	if nsp != "" && nsp != "/" {
		dst = append(dst, nsp...)
		dst = append(dst, ',')
	}
	if hasID {
		dst = strconv.AppendUint(dst, id, 10)
	}
	return dst
}
