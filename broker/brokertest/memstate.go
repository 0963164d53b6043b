package brokertest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rtbroker/rtbroker/broker"
)

// The MemLog's broker.State: records live in the MemStore beside the
// events, so they survive a close and reopen like everything else.

// Get returns the live record under key; see broker.State.Get. Expiry is
// checked against time.Now. The Value is a copy.
func (l *MemLog) Get(ctx context.Context, key string) (broker.Record, error) {
	if err := broker.ValidateStateKey(key); err != nil {
		return broker.Record{}, fmt.Errorf("memlog: get state %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return broker.Record{}, fmt.Errorf("memlog: get state %q: %w", key, err)
	}
	s := l.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	if l.closed {
		return broker.Record{}, fmt.Errorf("memlog: get state %q: %w", key, broker.ErrClosed)
	}
	r, ok := s.state[key]
	if !ok || !r.Live(time.Now()) {
		return broker.Record{}, fmt.Errorf("memlog: get state %q: %w", key, broker.ErrNotFound)
	}
	return cloneRecord(r), nil
}

// Put writes recs atomically, in order; see broker.State.Put. A bad record
// fails the call with an error wrapping broker.ErrInvalid and writes
// nothing. recs are copied.
func (l *MemLog) Put(ctx context.Context, recs []broker.Record) error {
	if err := broker.ValidateRecords(recs); err != nil {
		return fmt.Errorf("memlog: put state: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memlog: put state: %w", err)
	}
	s := l.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.closed {
		return fmt.Errorf("memlog: put state: %w", broker.ErrClosed)
	}
	s.putLocked(recs)
	return nil
}

// putLocked applies validated recs; the caller holds s.mu for writing.
func (s *MemStore) putLocked(recs []broker.Record) {
	for _, r := range recs {
		if r.Value == nil {
			delete(s.state, r.Key)
			continue
		}
		r = cloneRecord(r)
		r.Expires = r.Expires.UTC() // as a file stores it: no monotonic reading, no zone
		s.state[r.Key] = r
	}
}

// Scan calls fn with the live records whose key starts with prefix, in key
// order, from one snapshot taken under the lock (fn runs without it); see
// broker.State.Scan.
func (l *MemLog) Scan(ctx context.Context, prefix string, fn func(broker.Record) bool) error {
	if err := broker.ValidateStatePrefix(prefix); err != nil {
		return fmt.Errorf("memlog: scan state %q: %w", prefix, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memlog: scan state %q: %w", prefix, err)
	}
	s := l.s
	s.mu.RLock()
	if l.closed {
		s.mu.RUnlock()
		return fmt.Errorf("memlog: scan state %q: %w", prefix, broker.ErrClosed)
	}
	now := time.Now()
	var found []broker.Record
	for k, r := range s.state {
		if strings.HasPrefix(k, prefix) && r.Live(now) {
			found = append(found, cloneRecord(r))
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(found, func(a, b broker.Record) int { return strings.Compare(a.Key, b.Key) })
	for _, r := range found {
		if !fn(r) {
			return nil
		}
	}
	return nil
}

// Expire removes the records whose Expires is not after now and returns
// how many it removed; see broker.State.Expire.
func (l *MemLog) Expire(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memlog: expire state: %w", err)
	}
	s := l.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.closed {
		return 0, fmt.Errorf("memlog: expire state: %w", broker.ErrClosed)
	}
	n := 0
	for k, r := range s.state {
		if !r.Live(now) {
			delete(s.state, k)
			n++
		}
	}
	return n, nil
}

// cloneRecord returns a copy of r that shares no bytes with it (an empty
// Value stays non-nil).
func cloneRecord(r broker.Record) broker.Record {
	r.Value = bytes.Clone(r.Value)
	return r
}
