package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
)

// ErrNoState is returned by the Broker's state methods when it has no
// State (Config.State was nil and the Log does not implement State).
var ErrNoState = errors.New("no state store configured")

// sameStore reports whether the State s is the StateLog l itself, so that
// its records can share the events' transactions.
func sameStore(l StateLog, s State) bool {
	if s == nil || reflect.TypeOf(s) != reflect.TypeOf(l) || !reflect.TypeOf(s).Comparable() {
		return false
	}
	return State(l) == s
}

// PutState commits recs (see State.Put: in order, a later record of a key
// wins, a nil Value deletes) through the writer's group commit and returns
// once they are durable. When the Log is the State and a StateLog, the
// records share the transaction (and the fsync) of the events committed in
// the same batch; otherwise the writer puts them into the State right
// before the batch's events. Records are ordered with events as Enqueue
// orders events (see EnqueueState). recs are copied: the caller may reuse
// them when PutState returns.
//
// It fails with an error wrapping ErrInvalid (a bad key or value; nothing
// is queued), ErrNoState, ErrClosed, or the store's error; when ctx ends
// before the commit is known it returns ctx.Err() and the records may or
// may not be committed. An empty recs does nothing. State records take no
// offset, never reach a subscriber and do not count in Stats.
func (b *Broker) PutState(ctx context.Context, recs ...Record) error {
	p, err := b.EnqueueState(ctx, recs...)
	if err != nil {
		return err
	}
	_, err = p.Wait(ctx)
	return err
}

// EnqueueState validates recs and queues them for the writer's group
// commit without waiting for it; Wait on the result does (it returns nil,
// nil once the records are durable). recs are copied.
//
// Ordering: requests queued by one goroutine one after another (records
// by EnqueueState or PutState, events by Enqueue or Publish) are committed
// in that order, in the same transaction or a later one: a record queued
// before an event is never durable after that event, and an event queued
// before a record is durable no later than the record. When a commit
// fails, every request of its batch fails with it (except, with a State of
// its own, records whose Put succeeded before the events' Append failed:
// they are durable, and their requests succeed).
//
// It blocks only while the commit queue is full, at most until ctx ends,
// and returns validation errors (wrapping ErrInvalid), ErrNoState,
// ErrClosed or ctx's error; the records are then not queued.
func (b *Broker) EnqueueState(ctx context.Context, recs ...Record) (*Pending, error) {
	if b.state == nil {
		return nil, fmt.Errorf("put state: %w", ErrNoState)
	}
	if err := ValidateRecords(recs); err != nil {
		return nil, fmt.Errorf("put state: %w", err)
	}
	req := &publishReq{done: make(chan struct{})}
	if len(recs) == 0 {
		close(req.done)
		return &Pending{req: req}, nil
	}
	own := make([]Record, len(recs))
	for i, r := range recs {
		if r.Value != nil {
			r.Value = bytes.Clone(r.Value)
		}
		own[i] = r
	}
	req.recs = &own
	if err := b.enqueue(ctx, req); err != nil {
		return nil, fmt.Errorf("put state: %w", err)
	}
	return &Pending{req: req}, nil
}

// GetState returns the live record under key from the State (see
// State.Get); its Value is the caller's. It fails with an error wrapping
// ErrNotFound, ErrInvalid (a bad key), ErrNoState or ErrClosed (a closed
// Broker or State). Reads do not wait for queued records: a record is
// found once the PutState that wrote it returned.
func (b *Broker) GetState(ctx context.Context, key string) (Record, error) {
	if err := b.stateUsable(); err != nil {
		return Record{}, fmt.Errorf("get state %q: %w", key, err)
	}
	if err := ValidateStateKey(key); err != nil {
		return Record{}, fmt.Errorf("get state: %w", err)
	}
	return b.state.Get(ctx, key)
}

// ScanState calls fn with every live record whose key starts with prefix,
// in key order, from one snapshot, until fn returns false (see
// State.Scan). It fails with an error wrapping ErrInvalid (a bad prefix),
// ErrNoState or ErrClosed.
func (b *Broker) ScanState(ctx context.Context, prefix string, fn func(Record) bool) error {
	if err := b.stateUsable(); err != nil {
		return fmt.Errorf("scan state %q: %w", prefix, err)
	}
	if err := ValidateStatePrefix(prefix); err != nil {
		return fmt.Errorf("scan state: %w", err)
	}
	return b.state.Scan(ctx, prefix, fn)
}

// stateUsable returns ErrNoState or ErrClosed when the state methods
// cannot be used.
func (b *Broker) stateUsable() error {
	switch {
	case b.state == nil:
		return ErrNoState
	case b.done.Load():
		return ErrClosed
	}
	return nil
}
