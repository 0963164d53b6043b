package broker

import (
	"errors"
	"fmt"
)

// ErrInsufficientStorage is wrapped by a Log's write error when the
// storage under it refuses to grow: the disk is full, a quota is reached
// (ENOSPC, EDQUOT) or the file system is read-only (EROFS). Nothing of
// the failed write is committed, so a retry is safe; it succeeds by
// itself once space returns. Gateways answer it 507 insufficient_storage.
var ErrInsufficientStorage = errors.New("insufficient storage")

// CorruptionError is the error of a read that hit a damaged part of the
// stored log: a page that does not decode, or on which the storage engine
// panicked (the panic is recovered at the storage boundary and never
// crosses it). From and To
// (both 0 for a read of no event: room metadata, state records) are the offsets the failed read covered (To 0:
// up to the head), so that a client and an operator know which events
// could not be read; events outside the damaged pages stay readable.
// Gateways answer it 500 data_corrupted with Error's text.
type CorruptionError struct {
	From, To uint64 // the offsets the failed read covered, inclusive; To 0 means up to the head
	Detail   string // what the storage found, for logs; never empty
}

// Error names the offset range; it does not include Detail, which may
// name pages and is for the operator's log.
func (e *CorruptionError) Error() string {
	if e.From == 0 && e.To == 0 {
		return "stored data is damaged: the room index or the state beside the log could not be read"
	}
	if e.To == 0 {
		return fmt.Sprintf("stored data is damaged: the events from offset %d on could not be read", e.From)
	}
	if e.From == e.To {
		return fmt.Sprintf("stored data is damaged: the event at offset %d could not be read", e.From)
	}
	return fmt.Sprintf("stored data is damaged: the events from offset %d to %d could not be read", e.From, e.To)
}

// ErrUnavailable is wrapped by a Log's or State's error when the
// replicated storage under it cannot commit or answer now: a NATS
// JetStream stream without a leader (its cluster lost quorum), or no
// connection to NATS. The write may or may not have committed when the
// error came from a wait for an acknowledgement that timed out: retry
// with the same idempotency key. Gateways answer it 503 unavailable.
var ErrUnavailable = errors.New("storage unavailable")

// ErrStalled is wrapped by the error a Follower's Follow returns when its
// delivery went silent while the log held events it had not delivered
// (its server-side consumer lost, say, with no error from the client
// library). The Broker follows again at once, from its head, and logs the
// stall at WARN: nothing is skipped or repeated.
var ErrStalled = errors.New("follow stalled")
