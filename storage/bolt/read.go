package bolt

import (
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

// Read returns the events of rooms with offsets above after, in offset
// order, at most limit of them; see broker.Log.Read. Each room's offsets
// come from its index (a Cursor.Seek to after+1) and, above what the index
// covers, from memory; the rooms are merged by offset and each record is
// fetched from the events bucket, all in one read transaction, so the
// result is a consistent snapshot (see pendingView).
//
// Duplicate and unknown rooms are allowed. Only events of returned
// (durable) Appends are read. When fewer than limit events are returned,
// Through is that durable head (below after when after is beyond it);
// otherwise it is the offset of the last event returned. When after is
// below the trim watermark of some requested rooms, their events start at
// their earliest retained one and Trimmed is the highest such watermark.
// limit <= 0 fails with an error wrapping broker.ErrInvalid. The events
// are the caller's.
func (l *Log) Read(ctx context.Context, rooms []string, after uint64, limit int) (broker.ReadResult, error) {
	if limit <= 0 {
		return broker.ReadResult{}, fmt.Errorf("bolt: read: %w",
			&broker.ValidationError{Field: "limit", Reason: "must be positive"})
	}
	if err := ctx.Err(); err != nil {
		return broker.ReadResult{}, fmt.Errorf("bolt: read: %w", err)
	}
	if err := l.acquire("read"); err != nil {
		return broker.ReadResult{}, err
	}
	defer l.mu.RUnlock()
	rooms = slices.Compact(slices.Sorted(slices.Values(rooms)))
	v := l.pend.view(rooms, false) // before the transaction: see pendingView
	var res broker.ReadResult
	err := l.view(after+1, v.head, func(tx *bbolt.Tx) error {
		var err error
		res, err = readTx(tx, &v, rooms, after, limit)
		return err
	})
	if err != nil {
		return broker.ReadResult{}, fmt.Errorf("bolt: read after %d: %w", after, err)
	}
	return res, nil
}

// readTx is Read inside the read transaction tx, with the view v taken
// before tx began; rooms are distinct.
func readTx(tx *bbolt.Tx, v *pendingView, rooms []string, after uint64, limit int) (broker.ReadResult, error) {
	indexed, err := txIndexed(tx, v)
	if err != nil {
		return broker.ReadResult{}, err
	}
	head := v.head
	roomMetas := tx.Bucket(bucketRoomMeta)
	roomBuckets := tx.Bucket(bucketRooms)
	var (
		trimmed uint64
		m       merger
	)
	for _, name := range rooms {
		src := &roomSource{room: name, pend: v.between(name, max(after, indexed), head)}
		if val := roomMetas.Get([]byte(name)); val != nil {
			meta, err := decodeRoomMeta(val)
			if err != nil {
				return broker.ReadResult{}, fmt.Errorf("room %q: %w", name, err)
			}
			if after < meta.trimmed {
				trimmed = max(trimmed, meta.trimmed)
			}
			if meta.count > 0 && meta.head > after {
				b := roomBuckets.Bucket([]byte(name))
				if b == nil {
					return broker.ReadResult{}, fmt.Errorf("room %q has metadata but no index: %w", name, errCorrupt)
				}
				src.c = b.Cursor()
				src.k, _ = src.c.Seek(encodeKey(after + 1)) // after < meta.head: no overflow
			}
		}
		if err := m.push(src); err != nil {
			return broker.ReadResult{}, err
		}
	}
	er := newEventReader(tx, v, indexed)
	evs := make([]*broker.Event, 0, min(limit, 16)) // most reads are short: grow when not
	for len(evs) < limit && m.Len() > 0 && m[0].off <= head {
		src := m[0]
		ev, err := er.event(src.off, src.room)
		if err != nil {
			return broker.ReadResult{}, err
		}
		evs = append(evs, ev)
		if err := m.advance(); err != nil {
			return broker.ReadResult{}, err
		}
	}
	res := broker.ReadResult{Events: evs, Through: head, Trimmed: trimmed}
	if len(evs) == limit {
		res.Through = evs[len(evs)-1].Offset
	}
	return res, nil
}

// txIndexed returns the indexed offset of tx, which began after v was
// taken and therefore covers at least as much.
func txIndexed(tx *bbolt.Tx, v *pendingView) (uint64, error) {
	indexed, err := readIndexed(tx)
	if err != nil {
		return 0, err
	}
	if indexed < v.indexed {
		return 0, fmt.Errorf("indexed offset %d below %d in memory: %w", indexed, v.indexed, errCorrupt)
	}
	return indexed, nil
}

// roomSource yields the offsets of one room in ascending order: first from
// its index cursor, then from its pending offsets (all above the index).
type roomSource struct {
	room string
	c    *bbolt.Cursor // the room index; nil once exhausted
	k    []byte        // the key c is at; bbolt memory
	pend []uint64      // the pending offsets not yet yielded
	off  uint64        // the current offset
}

// next moves to the next offset and reports whether there is one.
func (s *roomSource) next() (bool, error) {
	if s.c != nil {
		if s.k != nil {
			off, err := decodeKey(s.k)
			if err != nil {
				return false, fmt.Errorf("room %q index: %w", s.room, err)
			}
			s.off = off
			s.k, _ = s.c.Next()
			return true, nil
		}
		s.c = nil
	}
	if len(s.pend) == 0 {
		return false, nil
	}
	s.off, s.pend = s.pend[0], s.pend[1:]
	return true, nil
}

// merger merges room sources by offset: a min-heap of their current
// offsets.
type merger []*roomSource

// push adds src at its first offset, unless it has none.
func (m *merger) push(src *roomSource) error {
	ok, err := src.next()
	if ok {
		heap.Push(m, src)
	}
	return err
}

// advance moves the lowest source to its next offset.
func (m *merger) advance() error {
	ok, err := (*m)[0].next()
	if err != nil {
		return err
	}
	if ok {
		if len(*m) > 1 {
			heap.Fix(m, 0)
		}
	} else {
		heap.Pop(m)
	}
	return nil
}

func (m merger) Len() int           { return len(m) }
func (m merger) Less(i, j int) bool { return m[i].off < m[j].off }
func (m merger) Swap(i, j int)      { m[i], m[j] = m[j], m[i] }
func (m *merger) Push(x any)        { *m = append(*m, x.(*roomSource)) }
func (m *merger) Pop() any {
	old := *m
	x := old[len(old)-1]
	*m = old[:len(old)-1]
	return x
}

// eventReader fetches events by offset: those up to the transaction's
// indexed offset from the events bucket, with one cursor, and those above
// it from the view's tail (journaled, maybe not applied). Offsets asked in
// ascending order a few apart (one room, or rooms read together) cost a
// Cursor.Next each; others a Cursor.Seek.
type eventReader struct {
	indexed uint64          // the transaction's: bbolt has every event up to it
	tail    []*broker.Event // the view's: the events from tailAt on
	tailAt  uint64          // the offset of tail[0]

	c   *bbolt.Cursor
	at  bool   // whether c is at an event (false before the first fetch and at the end)
	off uint64 // the offset of the event c is at
	v   []byte // its record; bbolt memory
	key [keyLen]byte

	typ, from string // of the last event read, shared when the next repeats them
}

// stepLimit is how many Cursor.Next an eventReader tries before seeking.
const stepLimit = 8

// event returns the event at offset off, which the index or pending says
// belongs to room. A missing event, or one of another room, is corruption.
func (r *eventReader) event(off uint64, room string) (*broker.Event, error) {
	if off > r.indexed {
		return r.memEvent(off, room)
	}
	rec, err := r.record(off)
	if err != nil {
		return nil, err
	}
	ev := &broker.Event{Offset: off, Room: room, Type: r.typ, From: r.from}
	if err := decodeRecord(rec, ev); err != nil {
		return nil, fmt.Errorf("room %q offset %d: %w", room, off, err)
	}
	r.typ, r.from = ev.Type, ev.From
	if ev.Room != room {
		return nil, fmt.Errorf("offset %d indexed in room %q belongs to room %q: %w", off, room, ev.Room, errCorrupt)
	}
	return ev, nil
}

// newEventReader returns an eventReader of tx, whose indexed offset is
// indexed (>= v.indexed), with view v.
func newEventReader(tx *bbolt.Tx, v *pendingView, indexed uint64) eventReader {
	return eventReader{c: tx.Bucket(bucketEvents).Cursor(), indexed: indexed, tail: v.tail, tailAt: v.indexed + 1}
}

// memEvent returns a copy of the event at offset off of the tail.
func (r *eventReader) memEvent(off uint64, room string) (*broker.Event, error) {
	i := off - r.tailAt
	if off < r.tailAt || i >= uint64(len(r.tail)) || r.tail[i].Offset != off {
		return nil, fmt.Errorf("event %d is neither in the file nor in memory: %w", off, errCorrupt)
	}
	ev := r.tail[i]
	if ev.Room != room {
		return nil, fmt.Errorf("offset %d of room %q belongs to room %q: %w", off, room, ev.Room, errCorrupt)
	}
	return copyEvent(ev), nil
}

// copyEvent returns a copy of e that shares nothing with it.
func copyEvent(e *broker.Event) *broker.Event {
	c := &broker.Event{Offset: e.Offset, ID: e.ID, Room: e.Room, Type: e.Type, Time: e.Time, From: e.From}
	if e.Data != nil {
		c.Data = append(make([]byte, 0, len(e.Data)), e.Data...)
	}
	return c
}

// record returns the record at offset off; bbolt memory.
func (r *eventReader) record(off uint64) ([]byte, error) {
	for i := 0; r.at && r.off < off && i < stepLimit; i++ {
		k, v := r.c.Next()
		if err := r.moved(k, v); err != nil {
			return nil, err
		}
	}
	if !r.at || r.off != off {
		binary.BigEndian.PutUint64(r.key[:], off)
		if err := r.moved(r.c.Seek(r.key[:])); err != nil {
			return nil, err
		}
	}
	if !r.at || r.off != off {
		return nil, fmt.Errorf("event %d is indexed but missing: %w", off, errCorrupt)
	}
	return r.v, nil
}

// moved records where the cursor went.
func (r *eventReader) moved(k, v []byte) error {
	r.at, r.v = k != nil, v
	if k == nil {
		return nil
	}
	var err error
	r.off, err = decodeKey(k)
	return err
}

// ReadBefore returns up to limit of the newest retained events of room with
// offsets below before (before == 0: from the head), in ascending order:
// the room's pending offsets, then its index read backwards from a
// Cursor.Seek, in one read transaction. Only events of returned (durable)
// Appends are read. An unknown room has no events. limit <= 0 fails with
// an error wrapping broker.ErrInvalid. The events are the caller's.
func (l *Log) ReadBefore(ctx context.Context, room string, before uint64, limit int) ([]*broker.Event, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("bolt: read room %q before %d: %w", room, before,
			&broker.ValidationError{Field: "limit", Reason: "must be positive"})
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bolt: read room %q before %d: %w", room, before, err)
	}
	if err := l.acquire("read before"); err != nil {
		return nil, err
	}
	defer l.mu.RUnlock()
	v := l.pend.view([]string{room}, false) // before the transaction: see pendingView
	if before == 0 || before > v.head {
		before = v.head + 1
	}
	out := []*broker.Event{}
	err := l.view(1, before-1, func(tx *bbolt.Tx) error {
		indexed, err := txIndexed(tx, &v)
		if err != nil {
			return err
		}
		offs, err := offsetsBefore(tx, &v, indexed, room, before, limit)
		if err != nil {
			return err
		}
		er := newEventReader(tx, &v, indexed)
		for _, off := range offs {
			ev, err := er.event(off, room)
			if err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: read room %q before %d: %w", room, before, err)
	}
	return out, nil
}

// offsetsBefore returns the offsets of up to limit of the newest events of
// room below before (> 0), in ascending order.
func offsetsBefore(tx *bbolt.Tx, v *pendingView, indexed uint64, room string, before uint64, limit int) ([]uint64, error) {
	var offs []uint64 // newest first
	pend := v.between(room, indexed, before-1)
	for i := len(pend) - 1; i >= 0 && len(offs) < limit; i-- {
		offs = append(offs, pend[i])
	}
	if b := tx.Bucket(bucketRooms).Bucket([]byte(room)); b != nil && len(offs) < limit {
		c := b.Cursor()
		k, _ := c.Seek(encodeKey(before))
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && len(offs) < limit; k, _ = c.Prev() {
			off, err := decodeKey(k)
			if err != nil {
				return nil, fmt.Errorf("room %q index: %w", room, err)
			}
			if off < before {
				offs = append(offs, off)
			}
		}
	}
	slices.Reverse(offs)
	return offs, nil
}

// Rooms lists every room that ever had an event, sorted by name: the
// per-room metadata as far as the index goes plus, for each room, its
// events above that from memory (no event is scanned).
func (l *Log) Rooms(ctx context.Context) ([]broker.RoomInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bolt: rooms: %w", err)
	}
	if err := l.acquire("rooms"); err != nil {
		return nil, err
	}
	defer l.mu.RUnlock()
	v := l.pend.view(nil, true) // before the transaction: see pendingView
	out := []broker.RoomInfo{}
	err := l.view(0, 0, func(tx *bbolt.Tx) error {
		indexed, err := txIndexed(tx, &v)
		if err != nil {
			return err
		}
		roomMetas := tx.Bucket(bucketRoomMeta)
		err = roomMetas.ForEach(func(k, val []byte) error {
			m, err := decodeRoomMeta(val)
			if err != nil {
				return fmt.Errorf("room %q: %w", k, err)
			}
			out = append(out, roomInfo(string(k), m, v.between(string(k), indexed, v.head)))
			return nil
		})
		if err != nil {
			return err
		}
		for _, name := range v.sortedNames() {
			if roomMetas.Get([]byte(name)) == nil {
				if offs := v.between(name, indexed, v.head); len(offs) > 0 {
					out = append(out, roomInfo(name, roomMeta{}, offs))
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: rooms: %w", err)
	}
	slices.SortFunc(out, func(a, b broker.RoomInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// roomInfo is the description of a room whose indexed events m describes
// and whose events above the index are at offsets pend.
func roomInfo(name string, m roomMeta, pend []uint64) broker.RoomInfo {
	if len(pend) > 0 {
		m.head = pend[len(pend)-1]
		m.count += uint64(len(pend))
		if m.first == 0 {
			m.first = pend[0]
		}
	}
	return broker.RoomInfo{Name: name, Head: m.head, First: m.first, Count: m.count, Trimmed: m.trimmed}
}
