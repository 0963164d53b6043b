package broker

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test for them with errors.Is; the broker and the
// Log implementations wrap them with context.
var (
	// ErrClosed is returned by every operation on a closed Broker, Log or
	// Subscription.
	ErrClosed = errors.New("closed")
	// ErrTrimmed means events after the requested position were removed by
	// retention: the reader cannot be sent everything it missed.
	ErrTrimmed = errors.New("position is older than retention")
	// ErrEpochMismatch means the requested position belongs to another log
	// instance (the log was deleted and recreated).
	ErrEpochMismatch = errors.New("position is from another epoch")
	// ErrInvalid marks bad input: a room or type name, event data, an
	// offset. The wrapping *ValidationError says which field.
	ErrInvalid = errors.New("invalid argument")
	// ErrTooLarge means event data exceeds the configured size limit.
	ErrTooLarge = errors.New("too large")
	// ErrNotFound means a State record does not exist (or has expired).
	ErrNotFound = errors.New("not found")
	// ErrConflict means a write assumed a state of the log that no longer
	// holds: an import whose first offset is not above the head (the log
	// is not empty, or something was published meanwhile).
	ErrConflict = errors.New("conflict")
)

// ValidationError describes one bad input field. It unwraps to ErrInvalid
// (or ErrTooLarge for size violations).
type ValidationError struct {
	Field  string // "room", "type", "data", "after", …
	Reason string
	kind   error
}

func (e *ValidationError) Error() string { return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason) }

// Unwrap returns ErrInvalid or ErrTooLarge.
func (e *ValidationError) Unwrap() error {
	if e.kind == nil {
		return ErrInvalid
	}
	return e.kind
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ResetError tells a reader that it cannot continue exactly from the position
// it asked for. Reason is ErrTrimmed or ErrEpochMismatch (Unwrap returns it).
//
// Room names the room the reset concerns: a room Subscription.Add was asked
// to follow, or a room retention overtook (at Subscribe or in Next). Its
// Requested is the position asked for (or the room's position when
// retention overtook it) and Resume the room's new position: just before
// its earliest retained event. Room is empty only for the reset of
// Subscribe's position as a whole (from.Epoch not the log's, or from beyond
// the head), which concerns all its rooms at once; Resume is then the
// subscription's Position after it. A Subscription reports each reset once
// and then goes on from Resume.
type ResetError struct {
	Reason    error
	Room      string
	Requested Position
	Resume    Position
}

func (e *ResetError) Error() string {
	if e.Room != "" {
		return fmt.Sprintf("reset of room %q from %s to %s: %v", e.Room, e.Requested, e.Resume, e.Reason)
	}
	return fmt.Sprintf("reset from %s to %s: %v", e.Requested, e.Resume, e.Reason)
}

// Unwrap returns Reason.
func (e *ResetError) Unwrap() error { return e.Reason }
