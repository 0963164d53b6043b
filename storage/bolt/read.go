package bolt

import (
	"container/heap"
	"context"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

// Read returns the events of rooms with offsets above after, in offset
// order, at most limit of them; see broker.Log.Read. Each room is read with
// a Cursor.Seek to after+1 and the rooms are merged by offset, all in one
// read transaction, so the result is a consistent snapshot.
//
// Duplicate and unknown rooms are allowed. When fewer than limit events are
// returned, Through is the head of the snapshot (below after when after is
// beyond the head); otherwise it is the offset of the last event returned.
// When after is below the trim watermark of some requested rooms, their
// events start at their earliest retained one and Trimmed is the highest
// such watermark. limit <= 0 fails with an error wrapping broker.ErrInvalid.
// The events are the caller's.
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
	// A read transaction can see a commit whose meta page is written but
	// not yet fsynced; reading only up to the head of returned Appends keeps
	// every event a reader sees durable.
	durable := l.head.Load()
	var res broker.ReadResult
	err := l.db.View(func(tx *bbolt.Tx) error {
		var err error
		res, err = readTx(tx, rooms, after, limit, durable)
		return err
	})
	if err != nil {
		return broker.ReadResult{}, fmt.Errorf("bolt: read after %d: %w", after, err)
	}
	return res, nil
}

// readTx is Read inside the read transaction tx, up to offset durable;
// rooms are distinct.
func readTx(tx *bbolt.Tx, rooms []string, after uint64, limit int, durable uint64) (broker.ReadResult, error) {
	head, err := readHead(tx)
	if err != nil {
		return broker.ReadResult{}, err
	}
	head = min(head, durable)
	roomMetas := tx.Bucket(bucketRoomMeta)
	roomBuckets := tx.Bucket(bucketRooms)
	var (
		trimmed uint64
		m       merger
	)
	for _, name := range rooms {
		v := roomMetas.Get([]byte(name))
		if v == nil {
			continue
		}
		meta, err := decodeRoomMeta(v)
		if err != nil {
			return broker.ReadResult{}, fmt.Errorf("room %q: %w", name, err)
		}
		if after < meta.trimmed {
			trimmed = max(trimmed, meta.trimmed)
		}
		if meta.count == 0 || meta.head <= after {
			continue // nothing to read
		}
		b := roomBuckets.Bucket([]byte(name))
		if b == nil {
			return broker.ReadResult{}, fmt.Errorf("room %q has metadata but no bucket: %w", name, errCorrupt)
		}
		c := b.Cursor()
		k, v := c.Seek(encodeKey(after + 1)) // after < meta.head: no overflow
		if err := m.push(name, c, k, v); err != nil {
			return broker.ReadResult{}, fmt.Errorf("room %q: %w", name, err)
		}
	}
	evs := make([]*broker.Event, 0, min(limit, 1024))
	for len(evs) < limit && m.Len() > 0 && m[0].off <= head {
		ev, err := m.next()
		if err != nil {
			return broker.ReadResult{}, err
		}
		evs = append(evs, ev)
	}
	res := broker.ReadResult{Events: evs, Through: head, Trimmed: trimmed}
	if len(evs) == limit {
		res.Through = evs[len(evs)-1].Offset
	}
	return res, nil
}

// merger merges per-room cursors by offset: a min-heap of cursor heads.
type merger []*mergeCursor

type mergeCursor struct {
	room string
	c    *bbolt.Cursor
	off  uint64 // offset of the current event
	v    []byte // record of the current event; bbolt memory
}

// push adds cursor c of room, positioned at k, v; an exhausted cursor (k
// nil) is not added.
func (m *merger) push(room string, c *bbolt.Cursor, k, v []byte) error {
	if k == nil {
		return nil
	}
	off, err := decodeKey(k)
	if err != nil {
		return err
	}
	heap.Push(m, &mergeCursor{room: room, c: c, off: off, v: v})
	return nil
}

// next decodes the lowest event and advances its cursor.
func (m *merger) next() (*broker.Event, error) {
	mc := (*m)[0]
	ev := &broker.Event{Offset: mc.off, Room: mc.room}
	if err := decodeRecord(mc.v, ev); err != nil {
		return nil, fmt.Errorf("room %q offset %d: %w", mc.room, mc.off, err)
	}
	k, v := mc.c.Next()
	if k == nil {
		heap.Pop(m)
		return ev, nil
	}
	off, err := decodeKey(k)
	if err != nil {
		return nil, fmt.Errorf("room %q after offset %d: %w", mc.room, mc.off, err)
	}
	mc.off, mc.v = off, v
	heap.Fix(m, 0)
	return ev, nil
}

func (m merger) Len() int           { return len(m) }
func (m merger) Less(i, j int) bool { return m[i].off < m[j].off }
func (m merger) Swap(i, j int)      { m[i], m[j] = m[j], m[i] }
func (m *merger) Push(x any)        { *m = append(*m, x.(*mergeCursor)) }
func (m *merger) Pop() any {
	old := *m
	x := old[len(old)-1]
	*m = old[:len(old)-1]
	return x
}

// ReadBefore returns up to limit of the newest retained events of room with
// offsets below before (before == 0: from the head), in ascending order,
// read backwards from a Cursor.Seek. An unknown room has no events.
// limit <= 0 fails with an error wrapping broker.ErrInvalid. The events are
// the caller's.
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
	// Only durable events; see Read.
	if durable := l.head.Load(); before == 0 || before > durable {
		before = durable + 1
	}
	var out []*broker.Event
	err := l.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRooms).Bucket([]byte(room))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, v := c.Seek(encodeKey(before))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			off, err := decodeKey(k)
			if err != nil {
				return err
			}
			if off >= before {
				continue
			}
			ev := &broker.Event{Offset: off, Room: room}
			if err := decodeRecord(v, ev); err != nil {
				return fmt.Errorf("offset %d: %w", off, err)
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: read room %q before %d: %w", room, before, err)
	}
	slices.Reverse(out)
	if out == nil {
		out = []*broker.Event{}
	}
	return out, nil
}

// Rooms lists every room that ever had an event, sorted by name, from the
// per-room metadata (no event is scanned).
func (l *Log) Rooms(ctx context.Context) ([]broker.RoomInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bolt: rooms: %w", err)
	}
	if err := l.acquire("rooms"); err != nil {
		return nil, err
	}
	defer l.mu.RUnlock()
	out := []broker.RoomInfo{}
	err := l.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRoomMeta).ForEach(func(k, v []byte) error {
			m, err := decodeRoomMeta(v)
			if err != nil {
				return fmt.Errorf("room %q: %w", k, err)
			}
			out = append(out, broker.RoomInfo{
				Name: string(k), Head: m.head, First: m.first, Count: m.count, Trimmed: m.trimmed,
			})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: rooms: %w", err)
	}
	return out, nil
}
