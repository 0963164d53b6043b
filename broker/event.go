package broker

import (
	"encoding/json"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"
)

// Event is one room event. A committed event has Offset > 0 and is
// immutable: the broker shares one *Event between the tail and every
// subscriber, and nobody may modify it. An ephemeral event has Offset 0 and
// is never logged.
type Event struct {
	Offset uint64          // position in the whole log; 0 for ephemeral events
	ID     ulid.ULID       // unique id, assigned by the broker
	Room   string          // room name (see ValidateRoom)
	Type   string          // event type (see ValidateType)
	Data   json.RawMessage // compact, valid JSON
	Time   time.Time       // when the broker accepted it (UTC)
	From   string          // who published it; set by the server, never by the client

	enc     atomic.Pointer[encoded] // cached wire encodings, see Encode
	first   encoded                 // the first of them, in place: written by the one Encode that claims it, before enc points to it
	claimed atomic.Bool             // first is claimed
}

// Ephemeral reports whether e was never logged.
func (e *Event) Ephemeral() bool { return e.Offset == 0 }

// An Encoder turns an event into the bytes of one wire format (a Socket.IO
// packet, an SSE frame). Create one per format with NewEncoder and reuse it:
// Event.Encode caches the result per Encoder on the event, so a committed
// event is encoded once per format however many subscribers receive it.
type Encoder struct {
	fn func(*Event) []byte
}

// NewEncoder returns an Encoder calling fn. fn must be safe for concurrent
// use, must not modify the event, and must return bytes it never modifies
// afterwards.
func NewEncoder(fn func(*Event) []byte) *Encoder { return &Encoder{fn: fn} }

// encoded is one cached encoding, the head of an immutable list.
type encoded struct {
	enc  *Encoder
	b    []byte
	next *encoded
}

// Encode returns enc's encoding of e, computing it at most once per event in
// the common case (two goroutines racing may both compute it; one result
// wins). The returned bytes are shared: callers must not modify them.
func (e *Event) Encode(enc *Encoder) []byte {
	var node *encoded
	for {
		head := e.enc.Load()
		for x := head; x != nil; x = x.next {
			if x.enc == enc {
				if node == &e.first { // lost a race: the next encoding may have it
					e.first = encoded{}
					e.claimed.Store(false)
				}
				return x.b
			}
		}
		if node == nil {
			node = e.newEncoded()
			node.enc, node.b = enc, enc.fn(e)
		}
		node.next = head // node is not shared until the swap succeeds
		if e.enc.CompareAndSwap(head, node) {
			return node.b
		}
	}
}

// newEncoded returns the event's own node for its first encoding, a new
// one for the next (the common event has one or two wire formats: the
// first costs no allocation of its own).
func (e *Event) newEncoded() *encoded {
	if e.claimed.CompareAndSwap(false, true) {
		return &e.first
	}
	return new(encoded)
}

// jsonEncoder is immutable after construction; it is the cache key for JSON.
var jsonEncoder = &Encoder{fn: func(e *Event) []byte { return e.AppendJSON(make([]byte, 0, e.JSONSize())) }}

// JSON returns the event's JSON object, cached like Encode:
//
//	{"offset":1,"id":"01J…","room":"r","type":"t","data":{…},"time":"…","from":"…"}
//
// Ephemeral events have no "offset" and carry "ephemeral":true instead.
// The returned bytes are shared: callers must not modify them.
func (e *Event) JSON() []byte { return e.Encode(jsonEncoder) }

// MarshalJSON implements json.Marshaler with the same bytes as JSON.
func (e *Event) MarshalJSON() ([]byte, error) { return e.JSON(), nil }

// AppendJSON appends the event's JSON object (see JSON) to b.
func (e *Event) AppendJSON(b []byte) []byte {
	if e.Offset > 0 {
		b = append(b, `{"offset":`...)
		b = strconv.AppendUint(b, e.Offset, 10)
		b = append(b, `,"id":"`...)
	} else {
		b = append(b, `{"ephemeral":true,"id":"`...)
	}
	b = AppendID(b, e.ID)
	b = append(b, `","room":`...)
	b = AppendJSONString(b, e.Room)
	b = append(b, `,"type":`...)
	b = AppendJSONString(b, e.Type)
	b = append(b, `,"data":`...)
	if len(e.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, e.Data...)
	}
	b = append(b, `,"time":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","from":`...)
	b = AppendJSONString(b, e.From)
	return append(b, '}')
}

// JSONSize is the usual length of the event's JSON object: exact unless
// strings need escaping. Encoders use it to allocate once.
func (e *Event) JSONSize() int {
	return len(`{"offset":,"id":"","room":,"type":,"data":,"time":"","from":}`) + 20 +
		ulid.EncodedSize + len(e.Room) + len(e.Type) + len(e.Data) + len(time.RFC3339Nano) + len(e.From) + 6
}

// AppendID appends the text form of id (26 characters, no quotes).
func AppendID(b []byte, id ulid.ULID) []byte {
	var t [ulid.EncodedSize]byte
	_ = id.MarshalTextTo(t[:]) // cannot fail: t is large enough
	return append(b, t[:]...)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string literal. Invalid UTF-8 becomes
// U+FFFD; <, > and & are escaped so the output is safe inside HTML.
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
