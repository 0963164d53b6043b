package bolt

import (
	"fmt"
	"slices"
	"sort"
	"sync"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

// pending is the unindexed suffix of the log: per room, the offsets of the
// events in (indexed, head] that the room index on disk does not cover yet.
// It is derived data: Open rebuilds it from the events bucket, so a crash
// loses nothing.
//
// Writers (Append and the index pass) change it only while holding
// Log.wmu, right after their transaction committed, so it follows the
// commit order: every event up to head is in it or in the index, and
// indexed only changes after the index transaction that covers it
// committed. Readers take a view under mu and then open their read
// transaction; see view for why that has neither gap nor duplicate.
//
// The offset slices are never written in place: Append appends beyond
// their end and the index pass reslices them from the front, so a view may
// keep slice headers without copying.
type pending struct {
	mu      sync.RWMutex
	indexed uint64              // guarded by mu: meta.indexed as last committed
	head    uint64              // guarded by mu: the head of the last returned Append
	rooms   map[string][]uint64 // guarded by mu: room → ascending offsets in (indexed, head]
}

func newPending(indexed, head uint64) *pending {
	return &pending{indexed: indexed, head: head, rooms: make(map[string][]uint64)}
}

// load adds the events of the events bucket above p.indexed, in offset
// order; Open calls it before anyone else can see p. It fails when an
// event lies beyond head or does not decode.
func (p *pending) load(tx *bbolt.Tx) error {
	c := tx.Bucket(bucketEvents).Cursor()
	for k, v := c.Seek(encodeKey(p.indexed + 1)); k != nil; k, v = c.Next() {
		off, err := decodeKey(k)
		if err != nil {
			return err
		}
		if off > p.head {
			return fmt.Errorf("event %d beyond the head %d: %w", off, p.head, errCorrupt)
		}
		room, err := recordRoom(v)
		if err != nil {
			return fmt.Errorf("event %d: %w", off, err)
		}
		p.rooms[string(room)] = append(p.rooms[string(room)], off)
	}
	return nil
}

// add records the events of a committed Append and its new head; the
// caller holds Log.wmu. evs are the new events only, in offset order. It
// returns how many events are unindexed now.
func (p *pending) add(evs []*broker.Event, head uint64) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range evs {
		p.rooms[e.Room] = append(p.rooms[e.Room], e.Offset)
	}
	p.head = max(p.head, head)
	return p.head - p.indexed
}

// chunk returns what the next index transaction covers: the offsets up to
// target = min(head, indexed+limit, until) of each room, lowered further
// when more than maxRooms rooms have offsets up to it so that maxRooms do,
// and the indexed offset it starts from (target <= from: nothing to do).
// The caller holds Log.wmu, so p does not change until it calls drain.
func (p *pending) chunk(limit, until uint64, maxRooms int) (from, target uint64, rooms map[string][]uint64) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	from, target = p.indexed, min(p.head, until)
	if target <= from {
		return from, target, nil
	}
	if target-from > limit {
		target = from + limit
	}
	if len(p.rooms) > maxRooms {
		target = p.roomsCap(target, maxRooms)
	}
	rooms = make(map[string][]uint64, min(len(p.rooms), maxRooms))
	for name, offs := range p.rooms {
		if n := upTo(offs, target); n > 0 {
			rooms[name] = offs[:n:n]
		}
	}
	return from, target, rooms
}

// roomsCap returns the highest offset up to target at which at most
// maxRooms (> 0) rooms have pending offsets: just below the first pending
// offset of the (maxRooms+1)-th room in order of their first offsets. With
// mu held.
func (p *pending) roomsCap(target uint64, maxRooms int) uint64 {
	firsts := make([]uint64, 0, len(p.rooms))
	for _, offs := range p.rooms {
		if len(offs) > 0 && offs[0] <= target {
			firsts = append(firsts, offs[0])
		}
	}
	if len(firsts) <= maxRooms {
		return target
	}
	slices.Sort(firsts)
	return firsts[maxRooms] - 1 // >= firsts[0]: first offsets are distinct
}

// drain forgets the offsets up to target, which a committed index
// transaction now covers; the caller holds Log.wmu.
func (p *pending) drain(target uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, offs := range p.rooms {
		n := upTo(offs, target)
		switch {
		case n == len(offs):
			delete(p.rooms, name)
		case n > 0:
			p.rooms[name] = offs[n:]
		}
	}
	p.indexed = max(p.indexed, target)
}

// unindexed returns how many events the index does not cover.
func (p *pending) unindexed() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.head - p.indexed
}

// pendingView is a reader's snapshot of pending.
//
// A reader takes the view first, then opens its read transaction. The
// transaction therefore sees every commit that the view reflects: an index
// up to some tx-indexed >= view.indexed and every event up to view.head.
// The reader takes offsets up to tx-indexed from the index (consistent with
// that transaction's trims and room metadata) and those in
// (tx-indexed, view.head] from the view, which holds all of
// (view.indexed, view.head]: no gap, no duplicate. Trim removes only
// indexed events, so no event above tx-indexed is missing from the
// transaction. Reads stop at view.head, the head of returned (durable)
// Appends.
type pendingView struct {
	indexed uint64
	head    uint64
	rooms   map[string][]uint64 // the requested rooms that have pending events
}

// view returns a view of rooms (all rooms when all is true).
func (p *pending) view(rooms []string, all bool) pendingView {
	p.mu.RLock()
	defer p.mu.RUnlock()
	v := pendingView{indexed: p.indexed, head: p.head}
	if all {
		v.rooms = make(map[string][]uint64, len(p.rooms))
		for name, offs := range p.rooms {
			v.rooms[name] = offs[:len(offs):len(offs)]
		}
		return v
	}
	for _, name := range rooms {
		if offs := p.rooms[name]; len(offs) > 0 {
			if v.rooms == nil {
				v.rooms = make(map[string][]uint64, len(rooms))
			}
			v.rooms[name] = offs[:len(offs):len(offs)]
		}
	}
	return v
}

// between returns room's pending offsets in (lo, hi] of the view.
func (v *pendingView) between(room string, lo, hi uint64) []uint64 {
	if hi <= lo {
		return nil
	}
	offs := v.rooms[room]
	return offs[upTo(offs, lo):upTo(offs, hi)]
}

// sortedNames returns the rooms of the view, sorted.
func (v *pendingView) sortedNames() []string {
	names := make([]string, 0, len(v.rooms))
	for name := range v.rooms {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// upTo returns how many of the ascending offs are <= off.
func upTo(offs []uint64, off uint64) int {
	if len(offs) == 0 || offs[len(offs)-1] <= off {
		return len(offs)
	}
	return sort.Search(len(offs), func(i int) bool { return offs[i] > off })
}
