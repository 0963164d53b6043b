package socketio

import (
	"strconv"
	"strings"
)

// Offset tokens. Every logged event a socket is sent ends with a string
// argument, its offset token, which socket.io-client keeps and sends back
// (with the session's pid) when it reconnects. Events are sent in offset
// order, except when a socket joins a room from an earlier offset (or
// recovers): the room's older events (up to the session's Live boundary)
// are then a catch-up, sent merged in offset order among themselves. So:
//
//   - a live event carries its offset, "123" — the same bytes for every
//     socket (the event is encoded once);
//   - a catch-up event carries "c<gen>.<offset>", encoded for its socket.
//
// Given the last session record and the client's token, resumeFrom gives
// each room the offset after which the client still needs its events:
//
//   - plain t >= Live: the client got everything sent before t, which is
//     every room's events up to t: resume max(start, t);
//   - plain t < Live: nothing of the last catch-up arrived: catch-up rooms
//     resume at their start, the others at max(start, t);
//   - "c<gen>.<e>" of the record's gen: catch-up rooms resume at
//     max(start, e), the others at max(start, Live);
//   - anything else (another gen, an ambiguous record without a live token
//     at or above Live, garbage): no exact answer, so no recovery: the
//     client gets a fresh session and re-joins with `after`.

type token struct {
	catchUp bool
	gen     uint64
	offset  uint64
}

// appendToken appends t's text: "123" or "c<gen>.<offset>".
func appendToken(b []byte, t token) []byte {
	if t.catchUp {
		b = append(b, 'c')
		b = strconv.AppendUint(b, t.gen, 10)
		b = append(b, '.')
	}
	return strconv.AppendUint(b, t.offset, 10)
}

// parseToken reads an offset token; "" (no event received yet) is plain 0.
func parseToken(s string) (token, bool) {
	if s == "" {
		return token{}, true
	}
	if rest, ok := strings.CutPrefix(s, "c"); ok {
		g, o, ok := strings.Cut(rest, ".")
		if !ok {
			return token{}, false
		}
		gen, err1 := strconv.ParseUint(g, 10, 64)
		off, err2 := strconv.ParseUint(o, 10, 64)
		return token{catchUp: true, gen: gen, offset: off}, err1 == nil && err2 == nil
	}
	off, err := strconv.ParseUint(s, 10, 64)
	return token{offset: off}, err == nil
}

// resumeFrom returns, per log room of rec, the offset after which the
// client needs the room's events, or false when rec and tok do not tell
// exactly.
func resumeFrom(rec *sessionRecord, tok token) (map[string]uint64, bool) {
	live := !tok.catchUp && tok.offset >= rec.Live
	if rec.Ambiguous && !live {
		return nil, false
	}
	if tok.catchUp && tok.gen != rec.Gen {
		return nil, false
	}
	out := make(map[string]uint64, len(rec.Rooms))
	for room, start := range rec.Rooms {
		switch {
		case live:
			out[room] = max(start, tok.offset)
		case !tok.catchUp && rec.CatchUp[room]:
			out[room] = start
		case !tok.catchUp:
			out[room] = max(start, tok.offset)
		case rec.CatchUp[room]:
			out[room] = max(start, tok.offset)
		default:
			out[room] = max(start, rec.Live)
		}
	}
	return out, true
}
