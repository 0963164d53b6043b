package protocol

import (
	"bytes"
	"encoding/binary"

	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
)

// Multi-frame packets.
//
// A packet with attachments is several engine messages. So that it can
// be encoded once and written to many sockets (Socket.WriteRaw), it is
// held in one byte slice, a multi-frame packet (JoinFrames, AppendAttachment): the text packet (whose
// type is BINARY_EVENT or BINARY_ACK), a NUL byte (which no text packet
// holds: JSON escapes control characters), then each attachment as its
// length (unsigned varint) and its bytes. AppendFrames takes it apart
// without copying.

// JoinFrames returns the multi-frame packet of text and atts.
func JoinFrames(text []byte, atts [][]byte) []byte {
	n := len(text) + 1
	for _, a := range atts {
		n += binary.MaxVarintLen64 + len(a)
	}
	b := append(make([]byte, 0, n), text...)
	b = append(b, 0)
	for _, a := range atts {
		b = binary.AppendUvarint(b, uint64(len(a)))
		b = append(b, a...)
	}
	return b
}

// isFrames reports whether a packet given to WriteRaw is a multi-frame
// packet (a binary type) rather than a text packet.
func IsFrames(p []byte) bool { return len(p) > 0 && PacketType(p[0]-'0').binary() }

// appendFrames appends the engine messages of the multi-frame packet p to
// msgs: its text and its attachments, aliasing p.
func AppendFrames(msgs []engineio.Message, p []byte) []engineio.Message {
	i := bytes.IndexByte(p, 0)
	if i < 0 {
		return append(msgs, engineio.Message{Data: p})
	}
	msgs = append(msgs, engineio.Message{Data: p[:i:i]})
	for rest := p[i+1:]; len(rest) > 0; {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			break // cannot happen with JoinFrames' output
		}
		end := k + int(n)
		msgs = append(msgs, engineio.Message{Data: rest[k:end:end], Binary: true})
		rest = rest[end:]
	}
	return msgs
}

// AppendAttachment appends to the multi-frame packet p the head of an
// attachment of size bytes, which the caller appends next; first is true
// for the packet's first attachment (p is then the text packet). It lets
// a caller write attachments straight into the packet (JoinFrames copies
// them).
func AppendAttachment(p []byte, first bool, size int) []byte {
	if first {
		p = append(p, 0)
	}
	return binary.AppendUvarint(p, uint64(size))
}
