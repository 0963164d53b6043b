package broker

import (
	"context"
	"time"
)

// State is the keyed store beside the log: what the server knows about its
// clients (Socket.IO sessions for recovery, read positions, presence), as
// opposed to what they published. Records are not events: they take no
// offset, are never delivered to subscribers, are not touched by event
// retention, and are never replayed at start-up (a reader looks a key up
// when it needs it). Each record may expire; an expired record is never
// returned, whether or not it has been removed yet.
//
// Keys are non-empty strings of at most MaxStateKeyLen bytes of ASCII
// letters, digits and `_ - . : @ /`; gateways prefix them with their own
// name ("sio/session/<pid>"). Values are opaque bytes of at most
// MaxStateValueLen bytes.
//
// Implementations live beside the Log implementations (the bbolt file's own
// buckets; JetStream key-value buckets) and pass brokertest.TestState. All
// methods are safe for concurrent use; after Close of the owning store
// every method returns an error wrapping ErrClosed.
type State interface {
	// Get returns the live record stored under key, or an error wrapping
	// ErrNotFound when there is none (never written, deleted or expired).
	// The returned Value belongs to the caller.
	Get(ctx context.Context, key string) (Record, error)

	// Put writes recs in one transaction, in order (a later record of the
	// same key wins), and returns once they are durable. A record with a
	// nil Value deletes its key (deleting a missing key is not an error).
	// A bad key or value fails the whole call with an error wrapping
	// ErrInvalid and writes nothing.
	Put(ctx context.Context, recs []Record) error

	// Scan calls fn with every live record whose key starts with prefix,
	// in key order, until fn returns false. The records belong to fn. It
	// reads one consistent snapshot.
	Scan(ctx context.Context, prefix string, fn func(Record) bool) error

	// Expire removes the records whose Expires is not after now and
	// returns how many it removed. The broker calls it periodically.
	Expire(ctx context.Context, now time.Time) (int, error)
}

// StateLog is a Log that keeps a State in the same store and can commit
// state records in the same transaction as events: the broker's group
// commit then writes the events and the records queued with them
// (Broker.PutState) with one transaction and one fsync, so a record is
// durable exactly when the events committed with it are.
type StateLog interface {
	Log
	State
	// AppendWith is Append that also writes recs (as State.Put does) in
	// the same transaction. On error neither the events nor the records
	// were committed.
	AppendWith(ctx context.Context, entries []Entry, recs []Record) ([]*Event, error)
}

// Record is one keyed state record.
type Record struct {
	Key     string
	Value   []byte    // nil in Put: delete the key
	Expires time.Time // when the record stops being returned; zero: never
}

// State limits.
const (
	MaxStateKeyLen   = 256
	MaxStateValueLen = 1 << 20
)
