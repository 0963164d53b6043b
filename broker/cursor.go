package broker

import (
	"context"
	"fmt"
	"slices"
)

// cursor holds a subscription's rooms and their positions: the rooms
// grouped by position, so that rooms at the same position are read
// together with one tail or Log read. It is guarded by Subscription.mu.
//
// A subscription that follows all its rooms from one position (SSE,
// long-poll, a caught-up socket) has one group, and reading it is the
// single read it always was.
type cursor struct {
	groups []group  // by ascending pos; positions distinct, each group non-empty
	all    []string // every room, sorted; replaced on change, never modified in place
	gen    uint64   // counts Add and Remove: a read made without the lock is stale when it changed
}

// group is the rooms of a cursor at one position: every event of these
// rooms up to pos has been returned (or skipped by a reset).
type group struct {
	pos   uint64
	rooms []string // sorted; replaced on change, never modified in place (read without the lock)
}

// newCursor returns a cursor over rooms (sorted, without duplicates), all
// at pos.
func newCursor(rooms []string, pos uint64) cursor {
	if len(rooms) == 0 {
		return cursor{}
	}
	return cursor{groups: []group{{pos: pos, rooms: rooms}}, all: rooms}
}

// has reports whether room is followed.
func (c *cursor) has(room string) bool {
	_, ok := slices.BinarySearch(c.all, room)
	return ok
}

// position returns room's position.
func (c *cursor) position(room string) (uint64, bool) {
	if !c.has(room) {
		return 0, false
	}
	for _, g := range c.groups {
		if _, ok := slices.BinarySearch(g.rooms, room); ok {
			return g.pos, true
		}
	}
	return 0, false // not reached: all and groups hold the same rooms
}

// min returns the lowest position, 0 without rooms.
func (c *cursor) min() uint64 {
	if len(c.groups) == 0 {
		return 0
	}
	return c.groups[0].pos
}

// remove stops following room; it reports whether room was followed.
func (c *cursor) remove(room string) bool {
	i, ok := slices.BinarySearch(c.all, room)
	if !ok {
		return false
	}
	c.all = slices.Delete(slices.Clone(c.all), i, i+1)
	for gi, g := range c.groups {
		j, ok := slices.BinarySearch(g.rooms, room)
		if !ok {
			continue
		}
		if len(g.rooms) == 1 {
			c.groups = slices.Delete(c.groups, gi, gi+1)
		} else {
			c.groups[gi].rooms = slices.Delete(slices.Clone(g.rooms), j, j+1)
		}
		break
	}
	return true
}

// insert follows room (not followed yet) from pos.
func (c *cursor) insert(room string, pos uint64) {
	c.all = insertSorted(c.all, room)
	gi, found := slices.BinarySearchFunc(c.groups, pos, func(g group, pos uint64) int {
		switch {
		case g.pos < pos:
			return -1
		case g.pos > pos:
			return 1
		}
		return 0
	})
	if found {
		c.groups[gi].rooms = insertSorted(c.groups[gi].rooms, room)
		return
	}
	c.groups = slices.Insert(c.groups, gi, group{pos: pos, rooms: []string{room}})
}

// move sets the position of a followed room.
func (c *cursor) move(room string, pos uint64) {
	c.remove(room)
	c.insert(room, pos)
}

// advance moves the lowest group to through (when that is forward); it
// reports whether the group reached the next one and merged with it.
func (c *cursor) advance(through uint64) (merged bool) {
	g := &c.groups[0]
	if through <= g.pos {
		return false
	}
	g.pos = through
	if len(c.groups) == 1 || through < c.groups[1].pos {
		return false
	}
	next := &c.groups[1]
	next.rooms = mergeSorted(g.rooms, next.rooms)
	c.groups = slices.Delete(c.groups, 0, 1)
	return true
}

// insertSorted returns a new sorted slice: s with v added.
func insertSorted(s []string, v string) []string {
	i, _ := slices.BinarySearch(s, v)
	out := make([]string, 0, len(s)+1)
	out = append(out, s[:i]...)
	out = append(out, v)
	return append(out, s[i:]...)
}

// mergeSorted returns a new sorted slice holding the rooms of a and b
// (disjoint, each sorted).
func mergeSorted(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0] < b[0] {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	out = append(out, a...)
	return append(out, b...)
}

// roomMark is a room whose events up to mark were removed by retention.
type roomMark struct {
	room string
	mark uint64
}

// trimMarks attributes a trim the Log reported for a read of rooms after
// pos (its ReadResult.Trimmed) to the rooms it concerns: the rooms whose
// trim watermark is above pos, with their watermark, sorted by room. Read
// of several rooms reports only the highest watermark, so each room is
// then read alone (rare: a reader behind retention).
func (b *Broker) trimMarks(ctx context.Context, rooms []string, pos, trimmed uint64) ([]roomMark, error) {
	if len(rooms) == 1 {
		return []roomMark{{rooms[0], trimmed}}, nil
	}
	var marks []roomMark
	for _, r := range rooms {
		res, err := b.log.Read(ctx, []string{r}, pos, 1)
		if err != nil {
			return nil, fmt.Errorf("read room %q after %d: %w", r, pos, err)
		}
		if res.Trimmed > pos {
			marks = append(marks, roomMark{r, res.Trimmed})
		}
	}
	if len(marks) == 0 {
		// Watermarks only rise: a room read alone reports at least what
		// the read of all of them did. Refuse rather than risk a gap.
		return nil, fmt.Errorf("log reported rooms %v trimmed through %d after %d, but no room alone", rooms, trimmed, pos)
	}
	return marks, nil
}

// Add follows room from position from (per room: the other rooms keep
// theirs): the following Next and TryNext calls return the room's events
// with offsets above from.Offset, merged in offset order with the other
// rooms' events (see Next). Adding a room already followed moves it to
// from, backwards or forwards; its events between the old and the new
// position are then returned again or skipped: the caller decides, Add
// does not compare.
//
// An offset of 0 means "from the earliest retained event" and is never a
// reset. When from cannot be honoured exactly, Add returns a *ResetError
// (with Room set) saying why, and the room starts where it says (Resume):
//   - from.Epoch is set and is not the log's epoch, or from.Offset is
//     beyond the head (the log was recreated): ErrEpochMismatch, and the
//     room starts at its earliest retained event;
//   - retention removed events of the room after from.Offset: ErrTrimmed,
//     and the room continues from its earliest retained event.
//
// When the room has events to read, Add wakes the subscription (Wait's
// channel and OnWake) after following it, so a reader scheduled by wake-ups
// runs. Add is safe to call from any goroutine, concurrently with a reader
// in Next or TryNext: a call that began before Add returned may or may not
// include the room, any call that begins after does. It reads the Log once
// (to learn the room's trim watermark) without holding the subscription's
// lock.
//
// Errors: ErrInvalid for a bad room name, ErrClosed when the subscription
// or the broker is closed, ctx's error or a Log read error; the room is
// then not added (a room already followed keeps its position).
func (s *Subscription) Add(ctx context.Context, room string, from Position) (*ResetError, error) {
	if err := ValidateRoom(room); err != nil {
		return nil, err
	}
	b := s.b
	if s.closed.Load() || b.done.Load() {
		return nil, ErrClosed
	}
	pos := from.Offset
	var reset *ResetError
	if pos > 0 && (from.Epoch != "" && from.Epoch != b.epoch || b.beyondHead(ctx, pos)) {
		reset = &ResetError{Reason: ErrEpochMismatch, Room: room, Requested: from}
		pos = 0
	}
	res, err := b.log.Read(ctx, []string{room}, pos, 1)
	if err != nil {
		return nil, fmt.Errorf("add room %q after %d: %w", room, pos, err)
	}
	if res.Trimmed > pos {
		if pos > 0 && reset == nil {
			reset = &ResetError{Reason: ErrTrimmed, Room: room, Requested: from}
		}
		pos = res.Trimmed
	}
	if reset != nil {
		reset.Resume = Position{Epoch: b.epoch, Offset: pos}
	}

	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.mu.Unlock()
		return nil, ErrClosed
	}
	rt := b.tail.room(room)
	rt.subs[s] = struct{}{} // a room followed again keeps its opt-in
	delete(b.idle, s)
	if head := b.tail.head; head > s.liveAfter.Load() {
		s.liveAfter.Store(head) // under s.mu: no other writer
	}
	// Events to read: the Log had some after pos, or some were committed
	// since (later commits wake the subscription as it is registered now).
	wake := len(res.Events) > 0 || rt.events.len() > 0 && rt.events.at(rt.events.len()-1).Offset > pos
	b.mu.Unlock()
	if s.cur.remove(room) {
		s.resets.dropRoom(room)
	}
	s.cur.insert(room, pos)
	s.cur.gen++
	s.pos.Store(s.cur.min())
	s.mu.Unlock()

	if wake {
		s.wake()
		s.notify()
	}
	b.stats.joins.Add(1)
	switch {
	case reset == nil && pos > 0 && from.Offset > 0:
		b.stats.resumed.Add(1)
	case reset != nil && reset.Reason == ErrTrimmed:
		b.stats.resetTrimmed.Add(1)
	case reset != nil:
		b.stats.resetEpoch.Add(1)
	}
	return reset, nil
}

// Remove stops following room: no Next or TryNext call that begins after
// Remove returned returns an event of the room, logged or ephemeral (its
// pending ephemeral events and a reset not reported yet are dropped).
// Removing a room that is not followed does nothing. A subscription whose
// last room is removed stays open: Next waits until a room is added. Safe
// to call from any goroutine, concurrently with a reader in Next or
// TryNext.
func (s *Subscription) Remove(room string) {
	b := s.b
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() || !s.cur.remove(room) {
		return
	}
	b.stats.leaves.Add(1)
	s.cur.gen++
	s.pos.Store(s.cur.min())
	s.eph.dropRoom(room)
	s.resets.dropRoom(room)
	b.mu.Lock()
	if rt := b.tail.rooms[room]; rt != nil {
		rt.unsubscribe(s)
		b.tail.dropIfIdle(room, rt)
	}
	if len(s.cur.all) == 0 && !b.closed {
		b.idle[s] = struct{}{}
	}
	b.mu.Unlock()
}

// OptIn sets whether the subscription receives the opt-in announcements
// of room (Broker.AnnounceOptIn: presence:join and presence:leave, say),
// which only the subscribers that opted in are sent. A room starts opted
// out when the subscription begins to follow it, keeps its setting when it
// is followed again (Add of a followed room), and loses it when it is
// removed. OptIn of a room not followed does nothing. Safe to call from
// any goroutine; announcements made after it returns honour it.
func (s *Subscription) OptIn(room string, on bool) {
	b := s.b
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() || !s.cur.has(room) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	rt := b.tail.rooms[room]
	if rt == nil {
		return
	}
	if _, ok := rt.subs[s]; !ok {
		return
	}
	switch {
	case !on:
		delete(rt.opted, s)
	case rt.opted == nil:
		rt.opted = map[*Subscription]struct{}{s: {}}
	default:
		rt.opted[s] = struct{}{}
	}
}

// RoomPosition returns the offset through which the events of room have
// been returned by Next or TryNext (or skipped by a reset): following room
// again from it (Add, or Subscribe to room alone) continues without gap or
// duplicate. ok is false when the room is not followed. Safe to call from
// any goroutine; with a reader running concurrently it is a snapshot.
func (s *Subscription) RoomPosition(room string) (offset uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.position(room)
}

// Rooms returns the rooms followed, sorted. The slice is a snapshot the
// subscription never modifies (Add and Remove replace it); the caller must
// not modify it either. Safe to call from any goroutine.
func (s *Subscription) Rooms() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.all
}
