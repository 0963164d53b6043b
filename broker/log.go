package broker

import (
	"context"
	"encoding/json"
	"time"

	"github.com/oklog/ulid/v2"
)

// Log is the append-only store of room events: the source of truth.
// Implementations live under storage/ and must pass the conformance suite in
// broker/brokertest. All methods are safe for concurrent use. After Close,
// every method returns an error wrapping ErrClosed.
type Log interface {
	// Epoch names this log instance. It is created with the log, survives
	// reopening, and differs between two separately created logs.
	Epoch() string

	// Head returns the offset of the last committed event, 0 when empty.
	Head() uint64

	// Append commits entries in one transaction and returns, for each
	// entry, the committed event. It returns only after the transaction is
	// durable (fsync). New events get consecutive offsets following Head(),
	// in entry order. An entry whose IdempotencyKey was committed before in
	// the same room (within the log's idempotency window, or earlier in the
	// same batch) is not appended again; keys are scoped to their room. The
	// result of such an entry is the originally committed event,
	// recognisable by an ID different from the entry's. On error nothing of
	// the batch was committed. An implementation may keep an entry's Data
	// as its event's: the caller must not modify it afterwards (the broker
	// passes copies of its own).
	Append(ctx context.Context, entries []Entry) ([]*Event, error)

	// Read returns the retained events of rooms with offsets greater than
	// after, in offset order, at most limit of them (limit > 0).
	// Result.Through tells how far the read got; Result.Trimmed tells
	// whether retention removed events of these rooms after `after`.
	Read(ctx context.Context, rooms []string, after uint64, limit int) (ReadResult, error)

	// ReadBefore returns up to limit events of room with offsets less than
	// before, the newest ones, in ascending offset order. before == 0 means
	// "from the head".
	ReadBefore(ctx context.Context, room string, before uint64, limit int) ([]*Event, error)

	// Rooms lists every room that has ever had an event, sorted by name.
	Rooms(ctx context.Context) ([]RoomInfo, error)

	// Trim removes events that retention no longer keeps: per room, with
	// the limits r.For(room) gives it (the first matching rule of r.Rules,
	// else r's own), events older than now-MaxAge (when MaxAge > 0) and
	// all but the newest MaxCount (when MaxCount > 0), and events with
	// offsets below Before (when Before > 0). It also forgets idempotency keys older
	// than the idempotency window. It records, per room, the highest
	// removed offset (the room's trim watermark), so that a later Read from
	// before it reports it in ReadResult.Trimmed. It returns how many
	// events it removed.
	Trim(ctx context.Context, r Retention, now time.Time) (int, error)

	// CountAfter returns how many retained events of room have offsets
	// greater than after, counting no further than limit (> 0): the result
	// is min(that number, limit). A room without events counts 0. It reads
	// no event body; implementations answer from per-room metadata when
	// after is below the room's earliest retained event, and otherwise
	// walk at most limit entries of the room's index. A limit <= 0 is an
	// error wrapping ErrInvalid.
	CountAfter(ctx context.Context, room string, after uint64, limit int) (int, error)

	// Close releases the log. Appends in flight complete or fail first.
	Close() error
}

// Entry is an event to append. Broker fills every field but the offset.
type Entry struct {
	ID             ulid.ULID
	Room           string
	Type           string
	Data           json.RawMessage
	Time           time.Time
	From           string
	IdempotencyKey string // optional; empty means no deduplication
}

// ReadResult is what Log.Read found.
type ReadResult struct {
	// Events are the events found, in offset order. The slice and the
	// events belong to the caller.
	Events []*Event
	// Through is the offset the read is complete up to: every event of the
	// requested rooms with an offset in (after, Through] is in Events.
	// Reading again from Through continues without gap or duplicate.
	Through uint64
	// Trimmed is the highest trim watermark above `after` among the
	// requested rooms, 0 if none: retention removed events of some room in
	// (after, Trimmed], and Events start at each such room's earliest
	// retained event.
	Trimmed uint64
}

// RoomInfo describes one room of a log.
type RoomInfo struct {
	Name    string `json:"room"`
	Head    uint64 `json:"head"`    // offset of the room's last event
	First   uint64 `json:"first"`   // offset of the earliest retained event, 0 if none
	Count   uint64 `json:"count"`   // events retained
	Trimmed uint64 `json:"trimmed"` // highest offset removed by retention, 0 if none
}

// Retention says which events a Log keeps.
type Retention struct {
	MaxAge      time.Duration // remove events older than this; 0 keeps all
	MaxCount    int           // keep at most this many events per room; 0 keeps all
	Before      uint64        // remove events with offsets below this; 0 removes none (a one-off cut, see Broker.TrimRoom)
	Idempotency time.Duration // how long idempotency keys are remembered; 0 means forever
	// Rules give rooms matching a pattern their own MaxAge and MaxCount;
	// the first matching rule wins and MaxAge/MaxCount above are the
	// default for rooms no rule matches (see Retention.For).
	Rules []RetentionRule
}
