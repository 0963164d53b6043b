package main

import (
	"bytes"
	"errors"
)

// Parsing of the few wire fields the load tool needs, straight from the
// bytes: a full JSON decode per delivered message would make the tool the
// bottleneck. The payloads are the servers' own encodings (rtbroker's or
// Node Socket.IO's), whose shapes are fixed; the functions return ok=false
// (never panic) on anything else.

// Socket.IO v5 packet types.
const (
	sioConnect      = '0'
	sioDisconnect   = '1'
	sioEvent        = '2'
	sioAck          = '3'
	sioConnectError = '4'
)

// Engine.IO v4 packet types.
const (
	eioOpen    = '0'
	eioClose   = '1'
	eioPing    = '2'
	eioPong    = '3'
	eioMessage = '4'
	eioNoop    = '6'
)

// eioSeparator joins the packets of a polling payload.
const eioSeparator = 0x1e

var errBadPacket = errors.New("malformed Socket.IO packet")

// sioPacket is a parsed Socket.IO packet; data aliases the input.
type sioPacket struct {
	typ  byte
	nsp  []byte // "" for the main namespace
	id   int64  // ack id, -1 when absent
	data []byte // the JSON payload, possibly empty
}

// parseSIO splits a Socket.IO packet (the data of an Engine.IO message):
// type digit, attachment count for binary types, namespace, ack id, JSON.
func parseSIO(p []byte) (sioPacket, error) {
	if len(p) == 0 || p[0] < '0' || p[0] > '6' {
		return sioPacket{}, errBadPacket
	}
	pk := sioPacket{typ: p[0], id: -1}
	p = p[1:]
	if pk.typ == '5' || pk.typ == '6' {
		i := bytes.IndexByte(p, '-')
		if i < 0 {
			return sioPacket{}, errBadPacket
		}
		p = p[i+1:]
	}
	if len(p) > 0 && p[0] == '/' {
		i := bytes.IndexByte(p, ',')
		if i < 0 {
			pk.nsp, p = p, nil
		} else {
			pk.nsp, p = p[:i], p[i+1:]
		}
		if string(pk.nsp) == "/" {
			pk.nsp = nil
		}
	}
	if n, rest, ok := leadingUint(p); ok {
		pk.id, p = int64(n), rest
	}
	pk.data = p
	return pk, nil
}

// leadingUint parses the decimal digits that start p.
func leadingUint(p []byte) (n uint64, rest []byte, ok bool) {
	i := 0
	for i < len(p) && p[i] >= '0' && p[i] <= '9' && i < 19 {
		n = n*10 + uint64(p[i]-'0')
		i++
	}
	return n, p[i:], i > 0
}

// eventName returns the name of an EVENT payload ["name", args…] (a
// string without escapes) and the bytes after it.
func eventName(data []byte) (name, rest []byte, ok bool) {
	if len(data) < 3 || data[0] != '[' || data[1] != '"' {
		return nil, nil, false
	}
	end := bytes.IndexByte(data[2:], '"')
	if end < 0 {
		return nil, nil, false
	}
	name = data[2 : 2+end]
	if bytes.IndexByte(name, '\\') >= 0 {
		return nil, nil, false
	}
	return name, data[3+end:], true
}

var (
	keyT      = []byte(`"t":`)
	keyOffset = []byte(`"offset":`)
	keyNext   = []byte(`"next":`)
)

// benchFields reads a delivered bench event's arguments (what follows the
// event name): t, the send time in the data (the first "t" field); off,
// the log offset in the meta that follows the data (the first "offset"
// field after t); token, the last argument when it is a string (the
// recovery offset rtbroker and Node's connection-state recovery append).
// ok is false without t and offset.
func benchFields(rest []byte) (t int64, off uint64, token []byte, ok bool) {
	i := bytes.Index(rest, keyT)
	if i < 0 {
		return 0, 0, nil, false
	}
	rest = rest[i:]
	t, ok = intAfter(rest, keyT)
	if !ok {
		return 0, 0, nil, false
	}
	off, ok = uintAfter(rest, keyOffset)
	return t, off, lastStringArg(rest), ok
}

// lastStringArg returns the last element of a JSON array's tail when it
// is a string without escapes (",\"tok\"]"), else nil.
func lastStringArg(p []byte) []byte {
	p = bytes.TrimRight(p, " \r\n")
	if len(p) < 4 || p[len(p)-1] != ']' || p[len(p)-2] != '"' {
		return nil
	}
	body := p[:len(p)-2]
	i := bytes.LastIndexByte(body, '"')
	if i < 1 || p[i-1] != ',' {
		return nil
	}
	s := body[i+1:]
	if bytes.IndexByte(s, '\\') >= 0 {
		return nil
	}
	return s
}

// uintAfter parses the unsigned number (possibly quoted) following the
// first occurrence of key in p.
func uintAfter(p, key []byte) (uint64, bool) {
	i := bytes.Index(p, key)
	if i < 0 {
		return 0, false
	}
	v := p[i+len(key):]
	if len(v) > 0 && v[0] == '"' {
		v = v[1:]
	}
	n, _, ok := leadingUint(v)
	return n, ok
}

// intAfter parses the integer following the first occurrence of key.
func intAfter(p, key []byte) (int64, bool) {
	i := bytes.Index(p, key)
	if i < 0 {
		return 0, false
	}
	v := p[i+len(key):]
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	n, _, ok := leadingUint(v)
	if neg {
		return -int64(n), ok
	}
	return int64(n), ok
}

// stringField returns the value of the first "name":"value" in p (a
// string without escapes), or nil.
func stringField(p []byte, name string) []byte {
	key := make([]byte, 0, len(name)+4)
	key = append(key, '"')
	key = append(key, name...)
	key = append(key, '"', ':', '"')
	i := bytes.Index(p, key)
	if i < 0 {
		return nil
	}
	v := p[i+len(key):]
	end := bytes.IndexByte(v, '"')
	if end < 0 || bytes.IndexByte(v[:end], '\\') >= 0 {
		return nil
	}
	return v[:end]
}

// ackOK reports whether an ACK payload's first argument says ok: true.
func ackOK(data []byte) bool {
	return bytes.HasPrefix(data, []byte(`[{`)) && bytes.Contains(data, []byte(`"ok":true`))
}

// eachPolledEvent calls fn for every event of a long-poll response
// {"events":[{"offset":N,…,"data":{"t":T,…},…},…],"next":M} and returns
// next. Events without a "t" in their data get t = 0.
func eachPolledEvent(body []byte, fn func(off uint64, t int64)) (next uint64, ok bool) {
	j := bytes.LastIndex(body, keyNext)
	if j < 0 {
		return 0, false
	}
	next, ok = uintAfter(body[j:], keyNext)
	if !ok {
		return 0, false
	}
	events := body[:j]
	for {
		i := bytes.Index(events, keyOffset)
		if i < 0 {
			return next, true
		}
		events = events[i+len(keyOffset):]
		off, rest, ok := leadingUint(events)
		if !ok {
			return next, false
		}
		events = rest
		// This event's fields end where the next event starts.
		end := bytes.Index(events, keyOffset)
		if end < 0 {
			end = len(events)
		}
		t, _ := intAfter(events[:end], keyT)
		fn(off, t)
	}
}
