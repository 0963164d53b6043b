package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/rtbroker/rtbroker/broker"
)

// sessionsRoom is the internal room that holds every Socket.IO session
// record. Sessions live in the log like everything else, so a client can
// recover after an rtbroker restart (and, with a shared log, on another
// node).
const sessionsRoom = broker.InternalPrefix + "sio.sessions"

// sessionType is the event type of a session record.
const sessionType = "session"

// sessionRecord is what a client recovers, saved at connect and at every
// join and leave: its socket id, and per log room the offset after which
// it needs the room's events (its join position). See recovery.go for how
// these and the client's offset token give each room's resume position.
type sessionRecord struct {
	PID   string            `json:"pid"`
	NSP   string            `json:"nsp"`
	SID   string            `json:"sid"`
	Rooms map[string]uint64 `json:"rooms"`
	// Gen counts the catch-ups (joins from an earlier offset, recoveries);
	// catch-up tokens name it.
	Gen uint64 `json:"gen"`
	// Live is the boundary of the last catch-up: events above it are sent in
	// offset order with plain tokens; CatchUp rooms' events up to it are sent
	// with catch-up tokens.
	Live    uint64          `json:"live"`
	CatchUp map[string]bool `json:"catchUp,omitempty"`
	// Ambiguous is set when a catch-up began before the previous one
	// finished: only a plain token at or above Live recovers exactly.
	Ambiguous bool `json:"ambiguous,omitempty"`
}

// sessions is a projection of sessionsRoom: the latest record per pid. A
// background subscription keeps it current; a lookup that misses first
// reads what the projection has not applied yet, so a record committed
// before the lookup is always found. Entries beyond max are forgotten
// oldest first (such a client gets a fresh session and re-joins).
type sessions struct {
	b   *broker.Broker
	log *slog.Logger
	max int

	queued chan *broker.Pending // records saveBehind queued, for confirm

	mu      sync.Mutex // guards the fields below
	applied uint64     // every record up to this offset has been applied
	byPID   map[string]sessionEntry
	order   []string // pids in the order first seen, for eviction
}

// sessionEntry is a pid's latest record, as logged (decoded by lookup
// only: a connected client's entry costs its JSON, which the log's event
// shares), and its offset.
type sessionEntry struct {
	data []byte
	off  uint64
}

func newSessions(b *broker.Broker, max int, log *slog.Logger) *sessions {
	return &sessions{b: b, max: max, log: log, byPID: make(map[string]sessionEntry),
		queued: make(chan *broker.Pending, 1024)}
}

// recordMessage is the log message of rec.
func recordMessage(rec *sessionRecord) (broker.Message, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return broker.Message{}, err
	}
	return broker.Message{Room: sessionsRoom, Type: sessionType, Data: data, From: "socketio"}, nil
}

// saveBehind queues rec for commit without waiting for it: a connecting
// client need not wait for a disk flush. This is safe because records are
// whole snapshots committed in the order they are queued: a record lost in
// a crash leaves the previous one (or none), under which the client's
// tokens either resume exactly (a plain token: its rooms are unchanged) or
// not at all (a catch-up token names the lost record's gen; an unknown
// pid), and the client is then told recovered: false. Joins and leaves,
// which change the rooms, use save. confirm applies the record once
// committed.
func (ss *sessions) saveBehind(ctx context.Context, rec *sessionRecord) error {
	m, err := recordMessage(rec)
	if err != nil {
		return err
	}
	p, err := ss.b.Enqueue(ctx, m)
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	select {
	case ss.queued <- p:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// confirm applies the records saveBehind queued as they commit, in order,
// until ctx ends. A record that fails to commit is logged: that client
// gets a fresh session if it reconnects.
func (ss *sessions) confirm(ctx context.Context) {
	for {
		select {
		case p := <-ss.queued:
			ev, err := p.Wait(ctx)
			switch {
			case err == nil:
				ss.apply([]*broker.Event{ev}, false)
			case ctx.Err() != nil:
				return
			default:
				ss.log.Warn("socketio: session record not saved", "err", err)
			}
		case <-ctx.Done():
			return
		}
	}
}

// save commits rec durably.
func (ss *sessions) save(ctx context.Context, rec *sessionRecord) error {
	m, err := recordMessage(rec)
	if err != nil {
		return err
	}
	ev, err := ss.b.Publish(ctx, m)
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	ss.apply([]*broker.Event{ev}, false)
	return nil
}

// apply folds records into the projection: a pid keeps the record of the
// highest offset, whatever order records arrive in. inOrder is true for
// an in-order read of the room from the applied mark (the follower, a
// catch-up read), which then moves the mark; a record applied out of
// order (save's own) must not, or records before it would be skipped.
func (ss *sessions) apply(evs []*broker.Event, inOrder bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, ev := range evs {
		if inOrder {
			if ev.Offset <= ss.applied {
				continue
			}
			ss.applied = ev.Offset
		}
		if ev.Type != sessionType {
			continue
		}
		var rec struct {
			PID string `json:"pid"`
		}
		if err := json.Unmarshal(ev.Data, &rec); err != nil || rec.PID == "" {
			ss.log.Warn("socketio: bad session record", "offset", ev.Offset, "err", err)
			continue
		}
		old, ok := ss.byPID[rec.PID]
		if ok && old.off >= ev.Offset {
			continue
		}
		if !ok {
			ss.order = append(ss.order, rec.PID)
		}
		ss.byPID[rec.PID] = sessionEntry{data: ev.Data, off: ev.Offset}
		for len(ss.byPID) > ss.max && len(ss.order) > 0 {
			delete(ss.byPID, ss.order[0])
			ss.order = ss.order[1:]
		}
	}
}

// lookup returns the latest record of pid, or nil.
func (ss *sessions) lookup(ctx context.Context, pid string) (*sessionRecord, error) {
	// Catch up with records the background subscription has not applied
	// yet: the client's latest record may be newer than the one we hold.
	ss.mu.Lock()
	applied := ss.applied
	ss.mu.Unlock()
	for {
		res, err := ss.b.History(ctx, sessionsRoom, applied, 1000)
		if err != nil {
			return nil, fmt.Errorf("read sessions: %w", err)
		}
		ss.apply(res.Events, true)
		if len(res.Events) == 0 {
			break
		}
		applied = res.Events[len(res.Events)-1].Offset
	}
	ss.mu.Lock()
	e, ok := ss.byPID[pid]
	ss.mu.Unlock()
	if !ok {
		return nil, nil
	}
	var rec sessionRecord
	if err := json.Unmarshal(e.data, &rec); err != nil {
		return nil, fmt.Errorf("session record at offset %d: %w", e.off, err)
	}
	return &rec, nil
}

// follow applies records as they are committed until ctx ends.
func (ss *sessions) follow(ctx context.Context) {
	sub, err := ss.b.Subscribe(ctx, []string{sessionsRoom}, broker.Position{})
	if err != nil {
		if !errors.Is(err, broker.ErrClosed) && ctx.Err() == nil {
			ss.log.Error("socketio: follow sessions", "err", err)
		}
		return
	}
	defer sub.Close()
	for {
		evs, err := sub.Next(ctx, 1000)
		var reset *broker.ResetError
		switch {
		case errors.As(err, &reset):
			continue // trimmed records are gone; later ones still apply
		case err != nil:
			return
		}
		ss.apply(evs, true)
	}
}
