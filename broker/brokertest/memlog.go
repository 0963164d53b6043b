package brokertest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rtbroker/rtbroker/broker"
)

var _ broker.StateLog = (*MemLog)(nil)

// MemStore is the data of an in-memory log. It outlives the MemLog handles
// opened on it, so a test can close a log and reopen the same events, head,
// trim watermarks, idempotency keys, state records and epoch, as it would
// reopen a file.
// Nothing is persisted: the data lives as long as the MemStore.
//
// A MemStore is safe for concurrent use. Several handles may be open on it
// at once; they see the same data.
type MemStore struct {
	epoch string // immutable after NewMemStore

	mu    sync.RWMutex             // guards the fields below and every MemLog.closed
	head  uint64                   // offset of the last appended event
	rooms map[string]*memRoom      // every room that ever had an event
	keys  map[memKey]memKeyed      // idempotency keys not yet forgotten
	state map[string]broker.Record // state records by key, expired ones until Expire; Values never modified
}

// memRoom is one room's retained events and bookkeeping.
type memRoom struct {
	events  []*broker.Event // retained events, ascending offsets; never modified after append
	head    uint64          // offset of the room's last event, retained or not
	trimmed uint64          // highest offset removed by retention, 0 if none
}

// memKey identifies an idempotency key: keys are scoped to their room.
type memKey struct{ room, key string }

// memKeyed is what an idempotency key remembers: the committed event (kept
// even when retention removes it from its room) and the time it was
// accepted, which Trim compares with the idempotency window.
type memKeyed struct {
	ev   *broker.Event
	time time.Time
}

// NewMemStore returns an empty store with a new random epoch.
func NewMemStore() *MemStore {
	return &MemStore{
		epoch: ulid.Make().String(),
		rooms: make(map[string]*memRoom),
		keys:  make(map[memKey]memKeyed),
		state: make(map[string]broker.Record),
	}
}

// Open returns a new open handle on s. Closing the handle does not discard
// the data: Open again to continue where it left off.
func (s *MemStore) Open() *MemLog { return &MemLog{s: s} }

// NewMemLog returns an open, empty in-memory log on a store of its own.
func NewMemLog() *MemLog { return NewMemStore().Open() }

// MemLog is a broker.Log and broker.State kept in memory (a
// broker.StateLog): the reference implementation of both contracts and the
// log that gateway and broker tests run on. It passes TestLog and
// TestState.
//
// All methods are safe for concurrent use. Appends are serialized by a
// mutex; reads share a read lock and binary-search each room's events, so a
// Read never scans from the oldest event. Events passed in and handed out
// are copies: callers own the slices and events they receive and may keep
// modifying the entries they passed. After Close every method that returns
// an error returns one wrapping broker.ErrClosed.
//
// Append is "durable" as soon as it returns, for as long as the MemStore
// lives.
type MemLog struct {
	s      *MemStore
	closed bool // guarded by s.mu
}

// Epoch returns the epoch of the underlying MemStore, also after Close.
func (l *MemLog) Epoch() string { return l.s.epoch }

// Head returns the offset of the last committed event, 0 when empty. After
// Close it still reports the store's head.
func (l *MemLog) Head() uint64 {
	l.s.mu.RLock()
	defer l.s.mu.RUnlock()
	return l.s.head
}

// Append commits entries atomically and returns the committed event of each
// entry; see broker.Log.Append. Idempotency keys are scoped to their room.
// Entries with an empty Room are rejected with an error wrapping
// broker.ErrInvalid; a canceled ctx returns ctx.Err() wrapped. On error
// nothing is committed. An empty batch commits nothing and returns an empty
// slice.
func (l *MemLog) Append(ctx context.Context, entries []broker.Entry) ([]*broker.Event, error) {
	return l.AppendWith(ctx, entries, nil)
}

// AppendWith is Append that also writes recs as Put does, atomically with
// the events; see broker.StateLog. A bad record fails the call with an
// error wrapping broker.ErrInvalid, and nothing is committed.
func (l *MemLog) AppendWith(ctx context.Context, entries []broker.Entry, recs []broker.Record) ([]*broker.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memlog: append: %w", err)
	}
	for i := range entries {
		if entries[i].Room == "" {
			return nil, fmt.Errorf("memlog: append entry %d: %w", i,
				&broker.ValidationError{Field: "room", Reason: "empty"})
		}
	}
	if err := broker.ValidateRecords(recs); err != nil {
		return nil, fmt.Errorf("memlog: append: %w", err)
	}
	s := l.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("memlog: append: %w", broker.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memlog: append: %w", err)
	}
	// Nothing below can fail, so the batch is committed as a whole.
	s.putLocked(recs)
	out := make([]*broker.Event, len(entries))
	for i := range entries {
		e := &entries[i]
		k := memKey{room: e.Room, key: e.IdempotencyKey}
		if e.IdempotencyKey != "" {
			if prev, ok := s.keys[k]; ok {
				out[i] = cloneEvent(prev.ev)
				continue
			}
		}
		s.head++
		ev := &broker.Event{
			Offset: s.head,
			ID:     e.ID,
			Room:   e.Room,
			Type:   e.Type,
			Data:   bytes.Clone(e.Data),
			Time:   e.Time.UTC(),
			From:   e.From,
		}
		r := s.rooms[e.Room]
		if r == nil {
			r = &memRoom{}
			s.rooms[e.Room] = r
		}
		r.events = append(r.events, ev)
		r.head = ev.Offset
		if e.IdempotencyKey != "" {
			s.keys[k] = memKeyed{ev: ev, time: ev.Time}
		}
		out[i] = cloneEvent(ev)
	}
	return out, nil
}

// Read returns the events of rooms after offset after; see broker.Log.Read.
// Duplicate and unknown rooms are allowed. limit <= 0 is an error wrapping
// broker.ErrInvalid. When fewer than limit events are returned, Through is
// the head at the time of the read (which is below after when after is
// beyond the head); otherwise it is the offset of the last event returned.
// When after is below the trim watermark of some requested rooms, their
// events start at their earliest retained one and Trimmed is the highest
// such watermark.
func (l *MemLog) Read(ctx context.Context, rooms []string, after uint64, limit int) (broker.ReadResult, error) {
	if limit <= 0 {
		return broker.ReadResult{}, fmt.Errorf("memlog: read: %w",
			&broker.ValidationError{Field: "limit", Reason: "must be positive"})
	}
	if err := ctx.Err(); err != nil {
		return broker.ReadResult{}, fmt.Errorf("memlog: read: %w", err)
	}
	s := l.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	if l.closed {
		return broker.ReadResult{}, fmt.Errorf("memlog: read: %w", broker.ErrClosed)
	}
	var trimmed uint64
	var lists [][]*broker.Event // per room, the events after `after`
	seen := make(map[string]bool, len(rooms))
	for _, name := range rooms {
		r := s.rooms[name]
		if r == nil || seen[name] {
			continue
		}
		seen[name] = true
		if after < r.trimmed {
			trimmed = max(trimmed, r.trimmed)
		}
		i := sort.Search(len(r.events), func(i int) bool { return r.events[i].Offset > after })
		if i < len(r.events) {
			lists = append(lists, r.events[i:])
		}
	}
	evs := make([]*broker.Event, 0, min(limit, 256))
	for len(evs) < limit {
		best := -1
		for j, list := range lists {
			if len(list) > 0 && (best < 0 || list[0].Offset < lists[best][0].Offset) {
				best = j
			}
		}
		if best < 0 {
			break
		}
		evs = append(evs, cloneEvent(lists[best][0]))
		lists[best] = lists[best][1:]
	}
	res := broker.ReadResult{Events: evs, Through: s.head, Trimmed: trimmed}
	if len(evs) == limit {
		res.Through = evs[len(evs)-1].Offset
	}
	return res, nil
}

// ReadBefore returns up to limit of the newest retained events of room with
// offsets below before (before == 0: from the head), in ascending order.
// An unknown room has no events. limit <= 0 is an error wrapping
// broker.ErrInvalid.
func (l *MemLog) ReadBefore(ctx context.Context, room string, before uint64, limit int) ([]*broker.Event, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("memlog: read room %q before %d: %w", room, before,
			&broker.ValidationError{Field: "limit", Reason: "must be positive"})
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memlog: read room %q before %d: %w", room, before, err)
	}
	s := l.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	if l.closed {
		return nil, fmt.Errorf("memlog: read room %q before %d: %w", room, before, broker.ErrClosed)
	}
	r := s.rooms[room]
	if r == nil {
		return []*broker.Event{}, nil
	}
	end := len(r.events)
	if before > 0 {
		end = sort.Search(len(r.events), func(i int) bool { return r.events[i].Offset >= before })
	}
	start := max(0, end-limit)
	out := make([]*broker.Event, 0, end-start)
	for _, ev := range r.events[start:end] {
		out = append(out, cloneEvent(ev))
	}
	return out, nil
}

// CountAfter returns how many retained events of room are above after, at
// most limit; see broker.Log.CountAfter. It binary-searches the room's
// events. limit <= 0 is an error wrapping broker.ErrInvalid.
func (l *MemLog) CountAfter(ctx context.Context, room string, after uint64, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("memlog: count room %q after %d: %w", room, after,
			&broker.ValidationError{Field: "max", Reason: "must be positive"})
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memlog: count room %q after %d: %w", room, after, err)
	}
	s := l.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	if l.closed {
		return 0, fmt.Errorf("memlog: count room %q after %d: %w", room, after, broker.ErrClosed)
	}
	r := s.rooms[room]
	if r == nil {
		return 0, nil
	}
	i := sort.Search(len(r.events), func(i int) bool { return r.events[i].Offset > after })
	return min(len(r.events)-i, limit), nil
}

// Rooms lists every room that ever had an event, sorted by name.
func (l *MemLog) Rooms(ctx context.Context) ([]broker.RoomInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memlog: rooms: %w", err)
	}
	s := l.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	if l.closed {
		return nil, fmt.Errorf("memlog: rooms: %w", broker.ErrClosed)
	}
	out := make([]broker.RoomInfo, 0, len(s.rooms))
	for name, r := range s.rooms {
		info := broker.RoomInfo{Name: name, Head: r.head, Count: uint64(len(r.events)), Trimmed: r.trimmed}
		if len(r.events) > 0 {
			info.First = r.events[0].Offset
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b broker.RoomInfo) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out, nil
}

// Trim applies retention as of now; see broker.Log.Trim. Per room, with
// the limits r.For(room) gives it, it removes the oldest events beyond MaxCount, those with offsets below Before, and the leading run of events
// whose Time is before now-MaxAge (events are in acceptance order, so that
// is every older event unless clocks went backwards). It forgets
// idempotency keys accepted before now-Idempotency. It returns how many
// events it removed.
func (l *MemLog) Trim(ctx context.Context, r broker.Retention, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memlog: trim: %w", err)
	}
	s := l.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.closed {
		return 0, fmt.Errorf("memlog: trim: %w", broker.ErrClosed)
	}
	removed := 0
	for name, room := range s.rooms {
		r := r.For(name) // the first matching rule, else the default
		n := 0
		if r.MaxCount > 0 && len(room.events) > r.MaxCount {
			n = len(room.events) - r.MaxCount
		}
		for n < len(room.events) && room.events[n].Offset < r.Before {
			n++
		}
		if r.MaxAge > 0 {
			cutoff := now.Add(-r.MaxAge)
			for n < len(room.events) && room.events[n].Time.Before(cutoff) {
				n++
			}
		}
		if n == 0 {
			continue
		}
		room.trimmed = room.events[n-1].Offset
		room.events = slices.Clone(room.events[n:])
		removed += n
	}
	if r.Idempotency > 0 {
		cutoff := now.Add(-r.Idempotency)
		for k, v := range s.keys {
			if v.time.Before(cutoff) {
				delete(s.keys, k)
			}
		}
	}
	return removed, nil
}

// Close closes this handle; the MemStore keeps the data. Closing twice
// returns an error wrapping broker.ErrClosed.
func (l *MemLog) Close() error {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if l.closed {
		return fmt.Errorf("memlog: close: %w", broker.ErrClosed)
	}
	l.closed = true
	return nil
}

// cloneEvent returns a copy of e that shares nothing mutable with it.
func cloneEvent(e *broker.Event) *broker.Event {
	return &broker.Event{
		Offset: e.Offset,
		ID:     e.ID,
		Room:   e.Room,
		Type:   e.Type,
		Data:   bytes.Clone(e.Data),
		Time:   e.Time,
		From:   e.From,
	}
}
