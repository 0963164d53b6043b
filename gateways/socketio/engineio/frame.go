package engineio

import (
	"encoding/binary"
	"fmt"
)

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0
	opText         = 1
	opBinary       = 2
	opClose        = 8
	opPing         = 9
	opPong         = 10
)

// WebSocket close codes the engine sends.
const (
	closeNormal     = 1000
	closeProtocol   = 1002    // a frame the protocol does not allow
	closeTooBig     = 1009    // a message over MaxPayload
	maxControlFrame = 125     // largest control frame payload
	maxMessage      = 1 << 30 // largest message whatever MaxPayload says
)

// frameError is a client frame the engine refuses: the connection is
// closed with code.
type frameError struct {
	code   uint16
	reason string
}

func (e *frameError) Error() string {
	return fmt.Sprintf("websocket: %s (close %d)", e.reason, e.code)
}

func protocolError(reason string) error { return &frameError{code: closeProtocol, reason: reason} }

// wsEvent is what frameReader.next yields: a whole data message (op
// opText or opBinary, data owned by the caller) or a control frame (op
// opPing, opPong or opClose, data aliasing the input). op 0: more bytes
// are needed.
type wsEvent struct {
	op   byte
	data []byte
}

// frameReader parses the frames a client sends (RFC 6455: masked, with
// fragmentation and interleaved control frames; no extensions) and
// assembles them into messages of at most max bytes. It reads from a
// buffer the caller fills and unmasks payloads in place. It is owned by
// one reader at a time.
type frameReader struct {
	msg   *[]byte // the data so far of the fragmented message being assembled; made by the first (most clients never fragment: a word, not a slice's three)
	need  int32   // bytes the next frame needs in all, once its header is known; 0 otherwise
	msgOp byte    // opcode of that message; 0 when none
}

// next consumes frames from the start of b and returns the next event and
// how many bytes of b it consumed (fragments of a message are consumed
// before the message is complete). It returns op 0 when b holds no
// complete event; r.need then says how many bytes (from b[n:]) the next
// frame needs, when its header is complete. The payload bytes of b are
// unmasked in place. A frame the protocol does not allow, or a message
// over max bytes (Config.MaxPayload; at most maxMessage), is a
// *frameError. (max is the server's, not a field: it is the same for
// every connection.)
func (r *frameReader) next(b []byte, max int64) (ev wsEvent, n int, err error) {
	for {
		r.need = 0
		fin, op, payload, size, err := parseFrame(b[n:], max)
		if err != nil || size == 0 {
			return wsEvent{}, n, err
		}
		if size > len(b)-n {
			r.need = int32(size)
			return wsEvent{}, n, nil
		}
		n += size
		switch op {
		case opPing, opPong, opClose:
			return wsEvent{op: op, data: payload}, n, nil
		case opContinuation:
			if r.msgOp == 0 {
				return wsEvent{}, n, protocolError("continuation frame without a message")
			}
			if int64(len(*r.msg)+len(payload)) > min(max, maxMessage) {
				return wsEvent{}, n, &frameError{code: closeTooBig, reason: "message too big"}
			}
			*r.msg = append(*r.msg, payload...)
			if fin {
				ev = wsEvent{op: r.msgOp, data: *r.msg}
				r.msgOp, *r.msg = 0, nil
				return ev, n, nil
			}
		default: // text or binary, checked by parseFrame
			if r.msgOp != 0 {
				return wsEvent{}, n, protocolError("new message before the end of the fragmented one")
			}
			data := append(make([]byte, 0, len(payload)), payload...)
			if fin {
				return wsEvent{op: op, data: data}, n, nil
			}
			if r.msg == nil {
				r.msg = new([]byte)
			}
			r.msgOp, *r.msg = op, data
		}
	}
}

// parseFrame parses the frame at the start of b. size is the frame's
// length when its header is complete (0 otherwise); when b holds the whole
// frame, payload is its unmasked data (aliasing b). Reserved bits,
// unknown opcodes, unmasked or malformed frames and control frames that
// are fragmented or too long are protocol errors; a data frame over max is
// a message too big, found from its header alone.
func parseFrame(b []byte, max int64) (fin bool, op byte, payload []byte, size int, err error) {
	if len(b) < 2 {
		return false, 0, nil, 0, nil
	}
	fin, op = b[0]&0x80 != 0, b[0]&0x0f
	if b[0]&0x70 != 0 {
		return false, 0, nil, 0, protocolError("reserved bits set")
	}
	switch op {
	case opContinuation, opText, opBinary:
	case opClose, opPing, opPong:
		if !fin {
			return false, 0, nil, 0, protocolError("fragmented control frame")
		}
	default:
		return false, 0, nil, 0, protocolError(fmt.Sprintf("unknown opcode %d", op))
	}
	if b[1]&0x80 == 0 {
		return false, 0, nil, 0, protocolError("unmasked client frame")
	}
	hdr := 2
	length := uint64(b[1] & 0x7f)
	switch length {
	case 126:
		if len(b) < 4 {
			return false, 0, nil, 0, nil
		}
		length, hdr = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return false, 0, nil, 0, nil
		}
		length, hdr = binary.BigEndian.Uint64(b[2:]), 10
		if length>>63 != 0 {
			return false, 0, nil, 0, protocolError("64-bit length with its top bit set")
		}
	}
	if op >= opClose && length > maxControlFrame {
		return false, 0, nil, 0, protocolError("control frame too long")
	}
	if op < opClose && length > uint64(min(max, maxMessage)) {
		return false, 0, nil, 0, &frameError{code: closeTooBig, reason: "message too big"}
	}
	if len(b) < hdr+4 {
		return false, 0, nil, 0, nil
	}
	mask := binary.LittleEndian.Uint32(b[hdr:])
	hdr += 4
	size = hdr + int(length)
	if len(b) < size {
		return fin, op, nil, size, nil
	}
	payload = b[hdr:size]
	unmask(payload, mask)
	return fin, op, payload, size, nil
}

// unmask XORs p with the 4-byte key (little-endian), eight bytes at a time.
func unmask(p []byte, key uint32) {
	k8 := uint64(key) | uint64(key)<<32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k8)
	}
	for ; i < len(p); i++ {
		p[i] ^= byte(key >> (8 * (i & 3)))
	}
}
