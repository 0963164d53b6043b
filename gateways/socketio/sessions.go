package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rtbroker/rtbroker/broker"
)

// sessionKeyPrefix starts the state keys of Socket.IO session records:
// "sio/session/<pid>".
const sessionKeyPrefix = "sio/session/"

// sessionRecord is what a client recovers: its socket id, and the current
// and previous generation of its rooms' positions (see recovery.go). It
// is kept in the broker's state store (broker.State) under its pid, never
// in the log: records take no offset and retention does not touch them.
type sessionRecord struct {
	PID   string `json:"pid"`
	NSP   string `json:"nsp"`
	SID   string `json:"sid"`
	Epoch string `json:"epoch"` // the log the offsets belong to
	sessionState
}

// sessionState is the part of a session record that changes while its
// socket is connected: what a member keeps (its pid is its socket's, its
// namespace and socket id are its socket's, and its epoch is the log's,
// which a recovered record was checked to match; see member.record).
type sessionState struct {
	generation
	// Added lists the rooms joined since the generation began; with no
	// event of the generation received they resume at their join position.
	Added map[string]bool `json:"added,omitempty"`
	// Prev is the generation before this one, for tokens received in it.
	Prev *generation `json:"prev,omitempty"`
	// Presence lists the rooms whose presence:join and presence:leave
	// events the socket asked for (room:join with presence: true); they
	// are asked for again when the session recovers.
	Presence map[string]bool `json:"presence,omitempty"`
}

// sessions stores session records in the broker's state store, one key
// per pid, each expiring `window` after it was last written. A lookup is
// one point read: nothing is held in memory and nothing is read at
// start-up, however many sessions exist.
type sessions struct {
	b      *broker.Broker
	log    *slog.Logger
	window time.Duration
	now    func() time.Time
	base   time.Time // what clock counts from

	queued chan *broker.Pending // records saveBehind queued, for confirm
}

func newSessions(b *broker.Broker, window time.Duration, log *slog.Logger) *sessions {
	now := b.Config().Now
	return &sessions{b: b, log: log, window: window, now: now, base: now(),
		queued: make(chan *broker.Pending, 1024)}
}

// clock returns now as the time since ss.base: a member keeps when it
// last saved its record in 8 bytes instead of a time.Time's 24 (with
// time.Now, a difference of two clock readings is on the monotonic
// clock, as time.Time's Sub is).
func (ss *sessions) clock() time.Duration { return ss.now().Sub(ss.base) }

// record is the state record of rec, expiring a window from now.
func (ss *sessions) record(rec *sessionRecord) (broker.Record, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return broker.Record{}, fmt.Errorf("encode session: %w", err)
	}
	return broker.Record{Key: sessionKeyPrefix + rec.PID, Value: data, Expires: ss.now().Add(ss.window)}, nil
}

// save writes rec durably.
func (ss *sessions) save(ctx context.Context, rec *sessionRecord) error {
	r, err := ss.record(rec)
	if err != nil {
		return err
	}
	if err := ss.b.PutState(ctx, r); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}

// saveBehind queues rec for the next group commit without waiting for it:
// a connecting client need not wait for a disk flush (recovery.go says why
// that is safe). confirm logs a record that fails to commit.
func (ss *sessions) saveBehind(ctx context.Context, rec *sessionRecord) error {
	r, err := ss.record(rec)
	if err != nil {
		return err
	}
	p, err := ss.b.EnqueueState(ctx, r)
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

// confirm waits for the records saveBehind queued, in order, until ctx
// ends, and logs those that failed: their clients get a fresh session if
// they reconnect.
func (ss *sessions) confirm(ctx context.Context) {
	for {
		select {
		case p := <-ss.queued:
			_, err := p.Wait(ctx)
			switch {
			case err == nil:
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

// lookup returns the live record of pid, or nil when there is none.
// lookupRetry is the pause between two session look-ups while the state
// store is unavailable.
const lookupRetry = 250 * time.Millisecond

func (ss *sessions) lookup(ctx context.Context, pid string) (*sessionRecord, error) {
	r, err := ss.b.GetState(ctx, sessionKeyPrefix+pid)
	// A replicated state store between two leaders (a node of its
	// cluster just died) answers ErrUnavailable for a few seconds: the
	// client that reconnects meanwhile waits for it (up to ctx) rather
	// than losing its session.
	for errors.Is(err, broker.ErrUnavailable) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(lookupRetry):
		}
		r, err = ss.b.GetState(ctx, sessionKeyPrefix+pid)
	}
	if errors.Is(err, broker.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	var rec sessionRecord
	if err := json.Unmarshal(r.Value, &rec); err != nil {
		return nil, fmt.Errorf("session record %s: %w", pid, err)
	}
	return &rec, nil
}
