package broker

import "sort"

// tail keeps the most recent committed events in memory, per room, so live
// subscribers never touch the Log. It is guarded by Broker.mu.
//
// Coverage: for a room with state rt, every event of the room with an
// offset greater than rt.covered is in rt.events. A room without state is
// covered above t.floor. A reader whose position is below its rooms'
// coverage reads from the Log instead.
type tail struct {
	head  uint64 // offset of the last committed event
	floor uint64 // coverage of rooms without state: the start head, then the last evicted offset
	max   int    // events kept over all rooms
	size  int
	rooms map[string]*roomTail
	order queue[*roomTail] // the room of every kept event, in commit order, for eviction
}

type roomTail struct {
	events  queue[*Event]
	covered uint64
	// subs are the room's subscribers; opted are those of them that
	// opted in to the room's opt-in announcements (Subscription.OptIn),
	// nil until one does, so that an announcement costs nothing for the
	// others.
	subs  map[*Subscription]struct{}
	opted map[*Subscription]struct{}
}

func (t *tail) init(head uint64, max int) {
	t.head, t.floor, t.max = head, head, max
	t.rooms = make(map[string]*roomTail)
}

func (t *tail) room(name string) *roomTail {
	rt := t.rooms[name]
	if rt == nil {
		rt = &roomTail{covered: t.floor, subs: make(map[*Subscription]struct{})}
		t.rooms[name] = rt
	}
	return rt
}

// dropIfIdle forgets a room that holds no events and no subscribers.
func (t *tail) dropIfIdle(name string, rt *roomTail) {
	if rt.events.len() == 0 && len(rt.subs) == 0 && t.rooms[name] == rt {
		delete(t.rooms, name)
	}
}

// add appends committed events (ascending offsets above head), evicts the
// oldest events beyond max, and wakes the subscribers of the rooms that got
// events. It appends to notify the subscribers whose OnWake callback the
// caller must call once the lock is released. The offsets need not be
// consecutive (a follower's batch skips events removed before it was
// delivered): each run of consecutive offsets is added after the offsets
// missing before it are marked uncovered.
func (t *tail) add(evs []*Event, notify []*Subscription) []*Subscription {
	for run := evs; len(run) > 0; {
		n := 1
		for n < len(run) && run[n].Offset == run[n-1].Offset+1 {
			n++
		}
		t.addRun(run[:n])
		run = run[n:]
	}
	var last string
	for _, ev := range evs {
		if ev.Room == last {
			continue
		}
		last = ev.Room
		for s := range t.rooms[ev.Room].subs {
			if s.wake() {
				notify = append(notify, s)
			}
		}
	}
	return notify
}

// addRun appends events of consecutive offsets above head and evicts the
// oldest events beyond max.
func (t *tail) addRun(evs []*Event) {
	if first := evs[0].Offset; first != t.head+1 {
		// Events between head and first were committed elsewhere and are not
		// in memory: nothing at or below first-1 is covered any more.
		t.raiseFloor(first - 1)
	}
	for _, ev := range evs {
		rt := t.room(ev.Room)
		rt.events.push(ev)
		t.order.push(rt)
		t.size++
	}
	t.head = evs[len(evs)-1].Offset
	for t.size > t.max {
		rt := t.order.pop()
		ev := rt.events.pop()
		rt.covered = ev.Offset
		t.floor = ev.Offset
		t.size--
		t.dropIfIdle(ev.Room, rt)
	}
}

func (t *tail) raiseFloor(off uint64) {
	t.floor = max(t.floor, off)
	for _, rt := range t.rooms {
		rt.covered = max(rt.covered, off)
	}
}

// subscribers returns the room's subscribers, or only those that opted
// in (Subscription.OptIn) when optedIn is true: then the others cost
// nothing.
func (t *tail) subscribers(room string, optedIn bool) []*Subscription {
	rt := t.rooms[room]
	if rt == nil {
		return nil
	}
	set := rt.subs
	if optedIn {
		set = rt.opted
	}
	if len(set) == 0 {
		return nil
	}
	subs := make([]*Subscription, 0, len(set))
	for s := range set {
		subs = append(subs, s)
	}
	return subs
}

// unsubscribe removes s from the room's subscribers (and opt-ins).
func (rt *roomTail) unsubscribe(s *Subscription) {
	delete(rt.subs, s)
	delete(rt.opted, s)
}

// read returns up to limit events of rooms with offsets in (after, upto],
// and the offset the read is complete through (at most upto). ok is false
// when some room is not covered from `after` on: the caller must read the
// Log. A through below `after` (a position beyond the tail's head) means
// nothing was read.
func (t *tail) read(rooms []string, after, upto uint64, limit int, out []*Event) (evs []*Event, through uint64, ok bool) {
	end := min(t.head, upto)
	if len(rooms) == 1 {
		rt := t.rooms[rooms[0]]
		if rt == nil {
			return out, end, after >= t.floor
		}
		if after < rt.covered {
			return out, 0, false
		}
		i, j := searchAfter(&rt.events, after), rt.events.len()
		if upto < t.head {
			j = searchAfter(&rt.events, upto)
		}
		if j-i > limit {
			out = rt.events.appendRange(out, i, i+limit)
			return out, out[len(out)-1].Offset, true
		}
		return rt.events.appendRange(out, i, j), end, true
	}
	// Several rooms: merge their tails by offset.
	type cur struct {
		rt *roomTail
		i  int
	}
	curs := make([]cur, 0, len(rooms))
	for _, name := range rooms {
		rt := t.rooms[name]
		if rt == nil {
			if after < t.floor {
				return out, 0, false
			}
			continue
		}
		if after < rt.covered {
			return out, 0, false
		}
		curs = append(curs, cur{rt, searchAfter(&rt.events, after)})
	}
	for len(out) < limit {
		best := -1
		for j, c := range curs {
			if c.i < c.rt.events.len() && c.rt.events.at(c.i).Offset <= upto &&
				(best < 0 || c.rt.events.at(c.i).Offset < curs[best].rt.events.at(curs[best].i).Offset) {
				best = j
			}
		}
		if best < 0 {
			return out, end, true
		}
		out = append(out, curs[best].rt.events.at(curs[best].i))
		curs[best].i++
	}
	for _, c := range curs {
		if c.i < c.rt.events.len() && c.rt.events.at(c.i).Offset <= upto {
			return out, out[len(out)-1].Offset, true
		}
	}
	return out, end, true
}

// queue is a FIFO on a slice that reclaims its consumed prefix.
type queue[T any] struct {
	items []T
	start int
}

func (q *queue[T]) len() int   { return len(q.items) - q.start }
func (q *queue[T]) at(i int) T { return q.items[q.start+i] }
func (q *queue[T]) push(v T)   { q.items = append(q.items, v) }
func (q *queue[T]) appendRange(out []T, i, j int) []T {
	return append(out, q.items[q.start+i:q.start+j]...)
}

func (q *queue[T]) pop() T {
	var zero T
	v := q.items[q.start]
	q.items[q.start] = zero
	q.start++
	if q.start == len(q.items) {
		q.items, q.start = q.items[:0], 0
	} else if q.start >= 1024 && q.start*2 >= len(q.items) {
		n := copy(q.items, q.items[q.start:])
		clear(q.items[n:])
		q.items, q.start = q.items[:n], 0
	}
	return v
}

// searchAfter returns the index in q of the first event with an offset
// above after.
func searchAfter(q *queue[*Event], after uint64) int {
	evs := q.items[q.start:]
	return sort.Search(len(evs), func(i int) bool { return evs[i].Offset > after })
}
