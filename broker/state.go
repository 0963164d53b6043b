package broker

import (
	"context"
	"fmt"
	"time"
)

// State is the keyed store beside the log: what the server knows about its
// clients (Socket.IO sessions for recovery, read positions, presence), as
// opposed to what they published. Records are not events: they take no
// offset, are never delivered to subscribers, are not touched by event
// retention, and are never replayed at start-up (a reader looks a key up
// when it needs it). Each record may expire; an expired record is never
// returned, whether or not it has been removed yet. Whether a record has
// expired is decided with the store's wall clock (time.Now) in Get and
// Scan, and with the time passed in Expire.
//
// Keys are non-empty strings of at most MaxStateKeyLen bytes of ASCII
// letters, digits and `_ - . : @ /` (see ValidateStateKey); gateways prefix
// them with their own name ("sio/session/<pid>"). Values are opaque bytes
// of at most MaxStateValueLen bytes (see ValidateRecord).
//
// Implementations live beside the Log implementations (the bbolt file's own
// buckets; JetStream key-value buckets) and pass brokertest.TestState. All
// methods are safe for concurrent use; after Close of the owning store
// every method returns an error wrapping ErrClosed. Records passed in are
// not retained (the caller may reuse their Values once the call returned);
// records handed out are copies owned by the receiver.
type State interface {
	// Get returns the live record stored under key, or an error wrapping
	// ErrNotFound when there is none (never written, deleted or expired).
	// The returned Value belongs to the caller. A bad key fails with an
	// error wrapping ErrInvalid.
	Get(ctx context.Context, key string) (Record, error)

	// Put writes recs in one transaction, in order (a later record of the
	// same key wins), and returns once they are durable. A record with a
	// nil Value deletes its key (deleting a missing key is not an error).
	// A bad key or value fails the whole call with an error wrapping
	// ErrInvalid and writes nothing. Putting a record again replaces its
	// value and its expiry (so a Put renews a record). An empty recs
	// writes nothing.
	Put(ctx context.Context, recs []Record) error

	// Scan calls fn with every live record whose key starts with prefix
	// (the empty prefix: every record), in key order, until fn returns
	// false. The records belong to fn. It reads one consistent snapshot,
	// which it holds in memory before the first call of fn, so fn may call
	// the store (a prefix names a modest set of records: a room's read
	// positions, a gateway's presence). A prefix that is not a valid key
	// (other than "") fails with an error wrapping ErrInvalid.
	Scan(ctx context.Context, prefix string, fn func(Record) bool) error

	// Expire removes the records whose Expires is not after now and
	// returns how many it removed. The broker calls it periodically. It
	// may commit in several bounded transactions; when it fails part way
	// it returns the count removed so far with the error.
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
	// were committed; a bad record fails the call with an error wrapping
	// ErrInvalid. With no entries it commits only the records (and returns
	// an empty slice); with neither it commits nothing.
	AppendWith(ctx context.Context, entries []Entry, recs []Record) ([]*Event, error)
}

// Record is one keyed state record.
type Record struct {
	Key     string
	Value   []byte    // nil in Put: delete the key
	Expires time.Time // when the record stops being returned; zero: never
}

// Live reports whether r is returned at time now: it never expires or
// expires after now.
func (r Record) Live(now time.Time) bool { return r.Expires.IsZero() || r.Expires.After(now) }

// State limits.
const (
	MaxStateKeyLen   = 256
	MaxStateValueLen = 1 << 20
)

// ValidateStateKey reports whether key is a valid State key: 1 to
// MaxStateKeyLen bytes of ASCII letters, digits and `_ - . : @ /`. The
// error is a *ValidationError wrapping ErrInvalid.
func ValidateStateKey(key string) error {
	if key == "" {
		return invalid("state key", "empty")
	}
	if len(key) > MaxStateKeyLen {
		return invalid("state key", "longer than %d bytes", MaxStateKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c != '/' && !nameByte(c) {
			return invalid("state key", "character %q not allowed (use letters, digits and _-.:@/)", c)
		}
	}
	return nil
}

// ValidateRecord reports whether r can be put: a valid key and a Value of
// at most MaxStateValueLen bytes. The error wraps ErrInvalid, and also
// ErrTooLarge when the value is too large.
func ValidateRecord(r Record) error {
	if err := ValidateStateKey(r.Key); err != nil {
		return err
	}
	if len(r.Value) > MaxStateValueLen {
		return fmt.Errorf("state record %q: %w (%w)", r.Key,
			invalid("state value", "larger than %d bytes", MaxStateValueLen), ErrTooLarge)
	}
	return nil
}

// ValidateRecords checks every record of recs with ValidateRecord; the
// error names the index of the first bad one.
func ValidateRecords(recs []Record) error {
	for i := range recs {
		if err := ValidateRecord(recs[i]); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
	}
	return nil
}

// ValidateStatePrefix reports whether prefix can be passed to State.Scan:
// "" (every record) or a valid key. The error wraps ErrInvalid.
func ValidateStatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return ValidateStateKey(prefix)
}
