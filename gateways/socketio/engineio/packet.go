package engineio

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strconv"
)

// Engine.IO v4 packet types, as the ASCII digit that starts a text packet.
const (
	typeOpen    = '0'
	typeClose   = '1'
	typePing    = '2'
	typePong    = '3'
	typeMessage = '4'
	typeUpgrade = '5'
	typeNoop    = '6'

	// separator joins the packets of a polling payload (ASCII record separator).
	separator = 0x1e
	// binaryPrefix marks a base64-encoded binary packet in a polling payload.
	binaryPrefix = 'b'
)

// errBadPacket is returned for a packet that is not valid Engine.IO v4.
var errBadPacket = errors.New("engineio: invalid packet")

// packet is one decoded Engine.IO packet. Data aliases the input it was
// decoded from (or a fresh buffer for base64 binary data).
type packet struct {
	typ    byte
	data   []byte
	binary bool
}

// decodeText decodes one text-encoded packet: a type digit followed by
// its data, or "b" followed by base64 binary data.
func decodeText(p []byte) (packet, error) {
	if len(p) == 0 {
		return packet{}, errBadPacket
	}
	switch t := p[0]; {
	case t == binaryPrefix:
		data, err := decodeBase64(p[1:])
		if err != nil {
			return packet{}, err
		}
		return packet{typ: typeMessage, data: data, binary: true}, nil
	case t >= typeOpen && t <= typeNoop:
		return packet{typ: t, data: p[1:]}, nil
	default:
		return packet{}, errBadPacket
	}
}

// decodeBase64 accepts standard base64 with or without padding, as
// Node's Buffer.from(s, "base64") does for well-formed input.
func decodeBase64(s []byte) ([]byte, error) {
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	out := make([]byte, enc.DecodedLen(len(s)))
	n, err := enc.Decode(out, s)
	if err != nil {
		return nil, errBadPacket
	}
	return out[:n], nil
}

// decodePayload splits a polling payload into packets. Packets before the
// first invalid one are returned together with the error, like the Node
// parser, so the caller can process them before closing the session.
// Text packet data aliases body.
func decodePayload(body []byte) ([]packet, error) {
	pkts := make([]packet, 0, 1+bytes.Count(body, []byte{separator}))
	for {
		i := bytes.IndexByte(body, separator)
		chunk := body
		if i >= 0 {
			chunk = body[:i]
		}
		p, err := decodeText(chunk)
		if err != nil {
			return pkts, err
		}
		pkts = append(pkts, p)
		if i < 0 {
			return pkts, nil
		}
		body = body[i+1:]
	}
}

// outItem is one queued outgoing packet. data is never modified by the
// engine: it may be shared by many connections.
type outItem struct {
	typ    byte   // packet type; typeMessage for messages
	binary bool   // binary message (typ == typeMessage)
	ctl    byte   // WebSocket control opcode for frames that are not packets (pong, close); 0 otherwise
	raw    bool   // data is the unwritten rest of WebSocket frames, written as is (ctl == opClose: it ends with a close frame)
	data   []byte // packet data (message body, probe text, or control payload)
}

// itemOverhead is what one queued item costs besides its data, for the
// write-buffer accounting.
const itemOverhead = 48

// appendPayload appends the polling encoding of items to dst: packets
// joined by the record separator, binary data as "b" + base64.
func appendPayload(dst []byte, items []outItem) []byte {
	first := true
	for _, it := range items {
		if it.ctl != 0 || it.raw {
			continue
		}
		if !first {
			dst = append(dst, separator)
		}
		first = false
		if it.binary {
			dst = append(dst, binaryPrefix)
			dst = base64.StdEncoding.AppendEncode(dst, it.data)
			continue
		}
		dst = append(dst, it.typ)
		dst = append(dst, it.data...)
	}
	return dst
}

// payloadSize is an upper bound of appendPayload's output length.
func payloadSize(items []outItem) int {
	n := 0
	for _, it := range items {
		if it.binary {
			n += 2 + base64.StdEncoding.EncodedLen(len(it.data))
		} else {
			n += 2 + len(it.data)
		}
	}
	return n
}

// appendOpen appends the open packet's JSON handshake.
func appendOpen(dst []byte, sid string, upgrades []string, cfg *Config) []byte {
	dst = append(dst, typeOpen)
	dst = append(dst, `{"sid":`...)
	dst = strconv.AppendQuote(dst, sid)
	dst = append(dst, `,"upgrades":[`...)
	for i, u := range upgrades {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendQuote(dst, u)
	}
	dst = append(dst, `],"pingInterval":`...)
	dst = strconv.AppendInt(dst, cfg.PingInterval.Milliseconds(), 10)
	dst = append(dst, `,"pingTimeout":`...)
	dst = strconv.AppendInt(dst, cfg.PingTimeout.Milliseconds(), 10)
	dst = append(dst, `,"maxPayload":`...)
	dst = strconv.AppendInt(dst, cfg.MaxPayload, 10)
	return append(dst, '}')
}
