package bolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

// Trim applies retention as of now; see broker.Log.Trim. It first applies
// the journal (retention works on the room index), then per room,
// with the limits r.For(room) gives it (the first matching rule, else the
// default), it removes the oldest events beyond r.MaxCount, those with offsets below r.Before, and the leading run of events
// whose Time is before now-r.MaxAge (events are stored in acceptance order,
// so that is every older event unless the clock went backwards), and
// records the highest removed offset as the room's watermark. It forgets
// idempotency keys accepted before now-r.Idempotency, oldest first through
// a time index, without scanning the others.
//
// Trim deletes in write transactions of at most Options.TrimBatch events
// (or keys) each, so checkpoints are delayed by one batch at most. Each
// transaction is consistent on its own: events, room metadata and
// watermark change together; each removes an event from the events bucket
// and its room index together, and only events the index covers, so
// readers never miss an event that is still retained (see pendingView).
// When ctx is canceled or the log is closed between batches, Trim stops
// and returns the events removed so far with the error, wrapped. Events
// appended while Trim runs are left for the next Trim.
func (l *Log) Trim(ctx context.Context, r broker.Retention, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("bolt: trim: %w", err)
	}
	if err := l.applyFirst(ctx, "trim"); err != nil {
		return 0, err
	}
	removed := 0
	if r.RemovesEvents() {
		names, err := l.roomNames()
		if err != nil {
			return 0, err
		}
		for i := 0; i < len(names); {
			n, err := l.batchTx(ctx, "trim", func(tx *bbolt.Tx) (int, error) {
				budget := l.trimBatch
				total := 0
				for ; i < len(names) && budget > 0; i++ {
					n, done, err := trimRoom(tx, names[i], r, now, budget)
					if err != nil {
						return 0, fmt.Errorf("room %q: %w", names[i], err)
					}
					total += n
					budget -= n
					if !done {
						break
					}
				}
				return total, nil
			})
			removed += n
			if err != nil {
				return removed, err
			}
		}
	}
	if r.Idempotency > 0 {
		cutoff := now.Add(-r.Idempotency)
		for done := false; !done; {
			_, err := l.batchTx(ctx, "trim", func(tx *bbolt.Tx) (int, error) {
				var err error
				done, err = expireKeys(tx, cutoff, l.trimBatch)
				return 0, err
			})
			if err != nil {
				return removed, err
			}
		}
	}
	return removed, nil
}

// applyFirst applies what is journaled (and indexes it), unless ctx is
// done or the log closed: Trim and Expire work on bbolt alone.
func (l *Log) applyFirst(ctx context.Context, op string) error {
	if err := l.acquire(op); err != nil {
		return err
	}
	defer l.mu.RUnlock()
	if err := l.checkpoint(ctx.Done()); err != nil {
		return fmt.Errorf("bolt: %s: apply the journal: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bolt: %s: %w", op, err)
	}
	return nil
}

// batchTx runs fn in one write transaction of the operation op (one batch
// of Trim or Expire), unless ctx is done or the log closed. It returns
// fn's count when the transaction committed.
func (l *Log) batchTx(ctx context.Context, op string, fn func(*bbolt.Tx) (int, error)) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("bolt: %s: %w", op, err)
	}
	if err := l.acquire(op); err != nil {
		return 0, err
	}
	defer l.mu.RUnlock()
	var n int
	err := l.update(0, 0, func(tx *bbolt.Tx) error {
		var err error
		n, err = fn(tx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("bolt: %s: %w", op, err)
	}
	return n, nil
}

// roomNames returns the name of every room, in a read transaction.
func (l *Log) roomNames() ([]string, error) {
	if err := l.acquire("trim"); err != nil {
		return nil, err
	}
	defer l.mu.RUnlock()
	var names []string
	err := l.view(0, 0, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRoomMeta).ForEach(func(k, _ []byte) error {
			names = append(names, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: trim: list rooms: %w", err)
	}
	return names, nil
}

// trimRoom removes up to budget events from the front of room as r
// requires and updates the room's metadata. It reports how many it removed
// and whether the room is done (false: the budget ran out first).
func trimRoom(tx *bbolt.Tx, room string, r broker.Retention, now time.Time, budget int) (int, bool, error) {
	r = r.For(room) // the first matching rule, else the default
	if r.MaxAge <= 0 && r.MaxCount <= 0 && r.Before == 0 {
		return 0, true, nil // kept forever
	}
	metaBucket := tx.Bucket(bucketRoomMeta)
	v := metaBucket.Get([]byte(room))
	if v == nil {
		return 0, true, nil
	}
	meta, err := decodeRoomMeta(v)
	if err != nil {
		return 0, false, err
	}
	if meta.count == 0 {
		return 0, true, nil
	}
	b := tx.Bucket(bucketRooms).Bucket([]byte(room))
	if b == nil {
		return 0, false, fmt.Errorf("metadata but no index: %w", errCorrupt)
	}
	events := tx.Bucket(bucketEvents)
	var excess uint64
	if r.MaxCount > 0 && meta.count > uint64(r.MaxCount) {
		excess = meta.count - uint64(r.MaxCount)
	}
	cutoff := now.Add(-r.MaxAge)
	n := 0
	c := b.Cursor()
	k, _ := c.First()
	for ; k != nil; k, _ = c.First() {
		off, err := decodeKey(k)
		if err != nil {
			return 0, false, err
		}
		if uint64(n) >= excess && off >= r.Before {
			if r.MaxAge <= 0 {
				break
			}
			rec := events.Get(k)
			if rec == nil {
				return 0, false, fmt.Errorf("event %d is indexed but missing: %w", off, errCorrupt)
			}
			t, err := recordTime(rec)
			if err != nil {
				return 0, false, fmt.Errorf("event %d: %w", off, err)
			}
			if !t.Before(cutoff) {
				break
			}
		}
		if n == budget {
			break
		}
		if err := events.Delete(encodeKey(off)); err != nil {
			return 0, false, fmt.Errorf("delete event %d: %w", off, err)
		}
		if err := c.Delete(); err != nil {
			return 0, false, fmt.Errorf("delete offset %d from the index: %w", off, err)
		}
		meta.trimmed = off
		n++
	}
	done := n < budget || k == nil
	if n == 0 {
		return 0, done, nil
	}
	meta.count -= uint64(n)
	meta.first = 0
	if k != nil {
		if meta.first, err = decodeKey(k); err != nil {
			return 0, false, err
		}
	}
	if err := metaBucket.Put([]byte(room), meta.encode()); err != nil {
		return 0, false, fmt.Errorf("metadata: %w", err)
	}
	return n, done, nil
}

// expireKeys forgets up to budget idempotency keys accepted before cutoff,
// oldest first. It reports whether none is left to forget.
func expireKeys(tx *bbolt.Tx, cutoff time.Time, budget int) (bool, error) {
	idem := tx.Bucket(bucketIdem)
	c := tx.Bucket(bucketIdemTime).Cursor()
	for n := 0; n < budget; n++ {
		k, _ := c.First()
		if k == nil {
			return true, nil
		}
		t, ik, err := decodeTimeKey(k)
		if err != nil {
			return false, err
		}
		if !t.Before(cutoff) {
			return true, nil
		}
		if err := idem.Delete(bytes.Clone(ik)); err != nil {
			return false, fmt.Errorf("forget idempotency key: %w", err)
		}
		if err := c.Delete(); err != nil {
			return false, fmt.Errorf("forget idempotency key: %w", err)
		}
	}
	return false, nil
}
