package socketio

import (
	"strconv"
	"strings"
)

// Connection state recovery: why resuming from a session record and the
// client's last offset token is exact, or refused.
//
// A member reads its rooms through one broker.Subscription, a cursor that
// follows each room from its own position and returns, between two room
// additions, events in offset order across rooms (the lowest rooms catch
// up first). Packets reach the client in the order they are written on
// one connection, so a client that received a packet received every
// packet written before it on that connection. Every logged event ends
// with an offset token that socket.io-client keeps and sends back, with
// the session's pid, when it reconnects.
//
// Generations. A session's history is cut into generations. A generation
// starts when the session starts or recovers, and when a join adds a room
// from before the cursor's frontier (the highest room position): its
// record holds Rooms, each room's position at that moment (for a room
// added in the generation, its join position), and Live, the frontier
// then. Every offset written before the generation began is at most Live.
// Within the generation the cursor's stream is in offset order, so:
//
//   - an event with offset at most Live is a catch-up (it comes after
//     higher offsets written earlier): it carries "c<gen>.<offset>",
//     encoded for its socket;
//   - an event above Live carries its plain offset "123": the same bytes
//     for every socket (the event is encoded once).
//
// A join from at or above the frontier keeps the generation: the room's
// events all come above every offset written so far, in order, so the
// rules below hold with the room added to Rooms at its join position (and
// listed in Added). A leave removes the room from Rooms.
//
// Resume rules. Given the record of generation g and a token:
//
//   - "c<g>.<e>", or a plain t above Live (or any plain t when Live is 0:
//     nothing was written before g): the client received a packet of g,
//     hence every packet before it: each room's events up to its Rooms
//     position (written before g) and, g's stream being in offset order,
//     every event of g up to e (or t), and none after: resume each room
//     at max(Rooms[r], e).
//   - a catch-up token of another generation, or a plain t at most Live:
//     the client received nothing of g. Rooms added in g resume at their
//     join position; the others at what the previous generation (Prev,
//     kept one level deep) gives for the token by the rule above. With no
//     Prev, or a token older than Prev too, there is no exact answer: the
//     client gets a fresh session (recovered: false) and re-joins with
//     `after`.
//
// A recovered session starts a new generation whose Rooms are the resume
// positions, whose Live is the highest of them, and whose Prev is the
// record it recovered from, so the same old token presented again (the
// client received nothing on the new connection) resumes the same way.
//
// Records are whole snapshots: written at connect (queued with the broker's
// group commit, not awaited: the CONNECT answer does not wait for a disk
// flush), at every join and leave (awaited before the ack and before the
// room's first event), and at disconnect (to restart the recovery window).
// A record lost in a crash leaves the one before it, under which the
// client's tokens either resume exactly by the same rules (its rooms did
// not change, as a join's record is durable before the room's events are
// written) or name an unknown generation and are refused: never a gap.

// token is an offset token: a plain offset, or a catch-up offset of a
// generation.
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

// generation is one generation of a session (see above).
type generation struct {
	Gen   uint64      `json:"gen"`
	Live  uint64      `json:"live"`
	Rooms roomOffsets `json:"rooms"` // a JSON object: room → position
}

// within reports whether tok was received during generation gn, and if
// so the offset through which every room's events reached the client.
func (gn *generation) within(tok token) (uint64, bool) {
	switch {
	case tok.catchUp:
		return tok.offset, tok.gen == gn.Gen
	case tok.offset > gn.Live || gn.Live == 0:
		return tok.offset, true
	}
	return 0, false
}

// resume applies the first resume rule: each room of gn at max(position,
// through).
func (gn *generation) resume(through uint64) map[string]uint64 {
	out := make(map[string]uint64, len(gn.Rooms))
	for r, pos := range gn.Rooms.all() {
		out[r] = max(pos, through)
	}
	return out
}

// resumeFrom returns, per log room of rec, the offset after which the
// client needs the room's events, or false when rec and tok do not tell
// exactly.
func resumeFrom(rec *sessionState, tok token) (map[string]uint64, bool) {
	if through, ok := rec.generation.within(tok); ok {
		return rec.generation.resume(through), true
	}
	if rec.Prev == nil {
		return nil, false
	}
	through, ok := rec.Prev.within(tok)
	if !ok {
		return nil, false
	}
	out := make(map[string]uint64, len(rec.Rooms))
	for r, pos := range rec.Rooms.all() {
		prev, inPrev := rec.Prev.Rooms.get(r)
		if rec.Added[r] || !inPrev {
			out[r] = pos
			continue
		}
		out[r] = max(prev, through)
	}
	return out, true
}
