package socketio

// roomOffsets maps log rooms to offsets for the few rooms one socket
// follows (at most GatewayConfig.MaxRooms): a slice searched in order,
// 24 bytes a room, where a map costs about 250 bytes even for one. Owned
// by the member's task.
type roomOffsets []roomOffset

type roomOffset struct {
	room string
	off  uint64
}

// get returns the offset of room and whether room is in the set.
func (r roomOffsets) get(room string) (uint64, bool) {
	for _, ro := range r {
		if ro.room == room {
			return ro.off, true
		}
	}
	return 0, false
}

// set makes room's offset off, adding room when it is not in the set.
func (r *roomOffsets) set(room string, off uint64) {
	for i := range *r {
		if (*r)[i].room == room {
			(*r)[i].off = off
			return
		}
	}
	*r = append(*r, roomOffset{room, off})
}

// del removes room.
func (r *roomOffsets) del(room string) {
	for i, ro := range *r {
		if ro.room == room {
			last := len(*r) - 1
			(*r)[i] = (*r)[last]
			(*r)[last] = roomOffset{}
			*r = (*r)[:last]
			return
		}
	}
}

// rooms returns the rooms, in no particular order.
func (r roomOffsets) rooms() []string {
	out := make([]string, len(r))
	for i, ro := range r {
		out[i] = ro.room
	}
	return out
}

// minOffset returns the lowest offset (0 for an empty set).
func (r roomOffsets) minOffset() uint64 {
	if len(r) == 0 {
		return 0
	}
	m := r[0].off
	for _, ro := range r[1:] {
		m = min(m, ro.off)
	}
	return m
}
