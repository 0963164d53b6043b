package socketio

import (
	"encoding/json"
	"iter"
	"slices"
	"strconv"
	"strings"
)

// roomOffsets is a generation's rooms, each with its position, sorted by
// room name. It is a JSON object ({"room": offset, …}) in the state
// store, as a map[string]uint64 would be, and a slice in memory because
// a socket is usually in one room or a few: a Go map of one room costs
// 256 bytes of heap, this 24, and every idle socket keeps its session's.
// A roomOffsets in a record is never modified (records are shared once
// saved): with and without return copies.
type roomOffsets []roomOffset

// roomOffset is one room of a roomOffsets.
type roomOffset struct {
	room string
	pos  uint64
}

// find returns where room is, or would be inserted, and whether it is
// there.
func (ro roomOffsets) find(room string) (int, bool) {
	return slices.BinarySearchFunc(ro, room, func(e roomOffset, r string) int { return strings.Compare(e.room, r) })
}

// get returns room's position, and whether room is there.
func (ro roomOffsets) get(room string) (uint64, bool) {
	if i, ok := ro.find(room); ok {
		return ro[i].pos, true
	}
	return 0, false
}

// has reports whether room is there.
func (ro roomOffsets) has(room string) bool {
	_, ok := ro.find(room)
	return ok
}

// all yields each room and its position, in room order.
func (ro roomOffsets) all() iter.Seq2[string, uint64] {
	return func(yield func(string, uint64) bool) {
		for _, e := range ro {
			if !yield(e.room, e.pos) {
				return
			}
		}
	}
}

// with returns a copy of ro with room at pos (added or moved).
func (ro roomOffsets) with(room string, pos uint64) roomOffsets {
	i, ok := ro.find(room)
	if ok {
		out := slices.Clone(ro)
		out[i].pos = pos
		return out
	}
	out := make(roomOffsets, len(ro)+1)
	copy(out, ro[:i])
	out[i] = roomOffset{room: room, pos: pos}
	copy(out[i+1:], ro[i:])
	return out
}

// without returns a copy of ro without room.
func (ro roomOffsets) without(room string) roomOffsets {
	i, ok := ro.find(room)
	if !ok {
		return slices.Clone(ro)
	}
	out := make(roomOffsets, 0, len(ro)-1)
	return append(append(out, ro[:i]...), ro[i+1:]...)
}

// MarshalJSON writes ro as a JSON object, as encoding/json writes a
// map[string]uint64 (keys sorted, the same escaping); nil is null.
func (ro roomOffsets) MarshalJSON() ([]byte, error) {
	if ro == nil {
		return []byte("null"), nil
	}
	b := append(make([]byte, 0, 2+len(ro)*24), '{')
	for i, e := range ro {
		if i > 0 {
			b = append(b, ',')
		}
		k, err := json.Marshal(e.room)
		if err != nil {
			return nil, err
		}
		b = append(append(b, k...), ':')
		b = strconv.AppendUint(b, e.pos, 10)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads a JSON object of room offsets (or null).
func (ro *roomOffsets) UnmarshalJSON(b []byte) error {
	var m map[string]uint64
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if m == nil {
		*ro = nil
		return nil
	}
	*ro = roomOffsetsOf(m)
	return nil
}

// roomOffsetsOf returns the rooms of m with their positions (nil for a
// nil map).
func roomOffsetsOf(m map[string]uint64) roomOffsets {
	if m == nil {
		return nil
	}
	out := make(roomOffsets, 0, len(m))
	for r, pos := range m {
		out = append(out, roomOffset{room: r, pos: pos})
	}
	slices.SortFunc(out, func(a, b roomOffset) int { return strings.Compare(a.room, b.room) })
	return out
}
