package bolt

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

// pending is the part of the log that bbolt does not hold yet: the events
// in (indexed, head], journaled and not applied by the checkpointer, with
// per room the list of their offsets; the idempotency keys of those events;
// and the state records journaled and not applied. Readers merge it with
// bbolt. It is derived data: Open applies the journal before anyone reads,
// so a crash loses nothing.
//
// Appends add to it under Log.wmu, right after their journal record is
// durable, so it follows the journal's order: every event up to head is in
// it or in bbolt. The checkpointer drains it only after the transaction
// that applied what it drains committed, and indexed only changes then.
// Readers take a view under mu and then open their read transaction; see
// pendingView for why that has neither gap nor duplicate.
//
// The slices are never written in place: Append appends beyond their end
// and drain reslices or copies them, so a view may keep slice headers
// without copying. The events are shared with Append's caller and never
// modified; readers hand out copies.
type pending struct {
	mu      sync.RWMutex
	indexed uint64                   // guarded by mu: meta.indexed as last committed: bbolt holds every event up to it
	head    uint64                   // guarded by mu: the head of the last returned Append
	rooms   map[string][]uint64      // guarded by mu: room → ascending offsets in (indexed, head]
	tail    []*broker.Event          // guarded by mu: the events in (indexed, head], in offset order
	idem    map[string]*broker.Event // guarded by mu: idempotency key (idemKey form) → its event in tail
	state   map[string]stateEntry    // guarded by mu: state key → its last record not applied
}

// stateEntry is a state record not applied yet and the seq of the journal
// record that holds it.
type stateEntry struct {
	rec broker.Record
	seq uint64
}

func newPending(indexed, head uint64) *pending {
	return &pending{indexed: indexed, head: head, rooms: make(map[string][]uint64),
		idem: make(map[string]*broker.Event), state: make(map[string]stateEntry)}
}

// load adds the offsets of the events of the events bucket above
// p.indexed, in offset order: a file that an older build left unindexed.
// Open calls it before anyone else can see p, and indexes them before it
// applies the journal, so that tail holds every event above indexed. It
// fails when an event lies beyond head or does not decode.
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

// add records the journaled batch b and its new events evs (in offset
// order, owned by pending: not the ones Append returns). The caller holds
// Log.wmu. It returns how many events, and how many keys' state
// records, are not applied now.
func (p *pending) add(b *jbatch, evs []*broker.Event) (events uint64, records int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, e := range evs {
		p.rooms[e.Room] = append(p.rooms[e.Room], e.Offset)
		p.tail = append(p.tail, e)
		if ik := b.evs[i].ik; ik != nil {
			p.idem[string(ik)] = e
		}
	}
	for _, r := range b.recs {
		p.state[r.Key] = stateEntry{rec: r, seq: b.seq}
	}
	p.head = max(p.head, b.head())
	return p.head - p.indexed, len(p.state)
}

// idemEvent returns the event not applied yet that idempotency key ik
// names, or nil.
func (p *pending) idemEvent(ik []byte) *broker.Event {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.idem[string(ik)]
}

// chunk returns what the next index transaction covers: the offsets up to
// target = min(head, until) of each room, and the indexed offset it starts
// from (target <= from: nothing to do). Only the checkpointer (and Open)
// index, so p.indexed does not change until it calls drain.
func (p *pending) chunk(until uint64) (from, target uint64, rooms map[string][]uint64) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	from, target = p.indexed, min(p.head, until)
	if target <= from {
		return from, target, nil
	}
	rooms = make(map[string][]uint64)
	for name, offs := range p.rooms {
		if n := upTo(offs, target); n > 0 {
			rooms[name] = offs[:n:n]
		}
	}
	return from, target, rooms
}

// drain forgets the events up to target, and the idempotency keys and
// state records of the batches bs, which a committed transaction now holds
// in bbolt.
func (p *pending) drain(target uint64, bs []*jbatch) {
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
	n := 0
	for n < len(p.tail) && p.tail[n].Offset <= target {
		n++
	}
	if n > 0 {
		p.tail = slices.Clone(p.tail[n:]) // let go of the drained events
	}
	for _, b := range bs {
		for _, e := range b.evs {
			if ev := p.idem[string(e.ik)]; e.ik != nil && ev != nil && ev.Offset <= target {
				delete(p.idem, string(e.ik))
			}
		}
		for _, r := range b.recs {
			if se, ok := p.state[r.Key]; ok && se.seq <= b.seq {
				delete(p.state, r.Key)
			}
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

// imported records that Import wrote and indexed the events up to head
// in bbolt directly; nothing was pending (the caller holds Log.wmu and
// Log.cmu, and applied the journal).
func (p *pending) imported(head uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.head, p.indexed = head, head
}

// stateUnder returns the state records not applied yet whose key is key
// (exact) or starts with it, sorted by key. A reader takes them before it
// opens its read transaction; see newerThan.
func (p *pending) stateUnder(key string, exact bool) []stateEntry {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if exact {
		if e, ok := p.state[key]; ok {
			return []stateEntry{e}
		}
		return nil
	}
	var out []stateEntry
	for k, e := range p.state {
		if strings.HasPrefix(k, key) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b stateEntry) int { return strings.Compare(a.rec.Key, b.rec.Key) })
	return out
}

// indexedOffset returns the highest offset bbolt holds every event up to.
func (p *pending) indexedOffset() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.indexed
}

// pendingView is a reader's snapshot of pending.
//
// A reader takes the view first, then opens its read transaction. The
// transaction therefore sees every checkpoint that the view reflects: the
// events and their index up to some tx-indexed >= view.indexed. The reader
// takes offsets up to tx-indexed from the index (consistent with that
// transaction's trims and room metadata) and their events from the events
// bucket, and the offsets in (tx-indexed, view.head] and their events from
// the view, which holds all of (view.indexed, view.head]: no gap, no
// duplicate. Trim removes only indexed events, so no event up to
// tx-indexed that the index names is missing from the transaction. Reads
// stop at view.head, the head of returned (durable) Appends.
type pendingView struct {
	indexed uint64
	head    uint64
	rooms   map[string][]uint64 // the requested rooms that have pending events
	tail    []*broker.Event     // the events in (indexed, head]
}

// view returns a view of rooms (all rooms when all is true).
func (p *pending) view(rooms []string, all bool) pendingView {
	p.mu.RLock()
	defer p.mu.RUnlock()
	v := pendingView{indexed: p.indexed, head: p.head, tail: p.tail[:len(p.tail):len(p.tail)]}
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
