package bolt

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

// appendFillPercent is how full bbolt fills a page before splitting it in
// buckets written in key order (events, room indexes, the expiry index):
// nearly full, as nothing is ever inserted before the end.
const appendFillPercent = 0.95

// Append commits entries in one bbolt write transaction, fsynced before it
// returns, and returns the committed event of each entry; see
// broker.Log.Append. The events, the head and the idempotency keys are
// written in that one transaction, so a crash leaves either all of them or
// none. The events go to the events bucket only, at its end, however many
// rooms the batch touches; the room index and metadata are updated later
// by the indexer, and until then from memory (see pending).
//
// Idempotency keys are scoped to their room; a repeated key returns the
// original event even after retention removed it. Entries with an empty
// Room fail with an error wrapping broker.ErrInvalid; a canceled ctx (before
// the transaction starts) fails with ctx.Err() wrapped; on any error nothing
// is committed. The returned events are the caller's; entries are not
// retained. An empty batch commits nothing.
func (l *Log) Append(ctx context.Context, entries []broker.Entry) ([]*broker.Event, error) {
	return l.AppendWith(ctx, entries, nil)
}

// AppendWith is Append that also writes the state records recs, as Put
// does, in the same transaction: one fsync for both, and after a crash
// both or neither are in the file; see broker.StateLog. A bad record fails
// the call with an error wrapping broker.ErrInvalid before anything is
// written. With no entries it commits only the records (the head does not
// move) and returns an empty slice. recs are not retained.
func (l *Log) AppendWith(ctx context.Context, entries []broker.Entry, recs []broker.Record) ([]*broker.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bolt: append: %w", err)
	}
	for i := range entries {
		if entries[i].Room == "" {
			return nil, fmt.Errorf("bolt: append entry %d: %w", i,
				&broker.ValidationError{Field: "room", Reason: "empty"})
		}
	}
	if err := broker.ValidateRecords(recs); err != nil {
		return nil, fmt.Errorf("bolt: append: %w", err)
	}
	if err := l.acquire("append"); err != nil {
		return nil, err
	}
	defer l.mu.RUnlock()
	if len(entries) == 0 {
		if len(recs) > 0 {
			if err := l.putState(ctx, recs); err != nil {
				return nil, fmt.Errorf("bolt: append: %w", err)
			}
		}
		return []*broker.Event{}, nil
	}
	var (
		out, fresh []*broker.Event
		head       uint64
	)
	// wmu makes pend and head follow the commit order; bbolt would
	// serialize the transactions anyway.
	l.wmu.Lock()
	defer l.wmu.Unlock()
	var start time.Time
	var written time.Duration
	if l.onCommit != nil {
		start, written = time.Now(), writeTime(l.db)
	}
	err := l.update(l.head.Load()+1, 0, func(tx *bbolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		a, err := newAppender(tx, len(entries))
		if err != nil {
			return err
		}
		a.arena = l.arena[:0]
		defer func() { l.arena = a.arena }()
		for i := range entries {
			if err := a.add(&entries[i]); err != nil {
				return fmt.Errorf("append to room %q: %w", entries[i].Room, err)
			}
		}
		if err := a.finish(); err != nil {
			return err
		}
		if len(recs) > 0 {
			if err := putRecords(tx, recs); err != nil {
				return err
			}
		}
		out, fresh, head = a.out, a.fresh, a.head
		return nil
	})
	if cap(l.arena) > maxArena {
		l.arena = nil // do not hold on to what a huge batch took
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: append: %w", err)
	}
	if l.onCommit != nil && len(fresh) > 0 {
		l.onCommit(len(fresh), time.Since(start), writeTime(l.db)-written)
	}
	// Durable now: readers may see the events (pend first, then the head
	// that caps reads).
	unindexed := l.pend.add(fresh, head)
	l.head.Store(head)
	if unindexed >= l.indexBatch {
		select {
		case l.wake <- struct{}{}:
		default: // already woken
		}
	}
	return out, nil
}

// maxArena is the largest arena an Append keeps for the next one.
const maxArena = 4 << 20

// appender writes one batch inside a write transaction.
type appender struct {
	tx       *bbolt.Tx
	events   *bbolt.Bucket
	idem     *bbolt.Bucket
	idemTime *bbolt.Bucket

	head  uint64         // last offset assigned
	keys  map[string]int // idemKey → index in out, for keys of this batch
	out   []*broker.Event
	fresh []*broker.Event // the events of out committed by this batch, in offset order

	// arena holds the keys and values put in this transaction: bbolt
	// requires them to stay valid until the commit. Sub-slices stay valid
	// when append moves the arena, as the old array is kept and unchanged.
	arena []byte
}

func newAppender(tx *bbolt.Tx, n int) (*appender, error) {
	head, err := readHead(tx)
	if err != nil {
		return nil, err
	}
	a := &appender{
		tx:       tx,
		events:   tx.Bucket(bucketEvents),
		idem:     tx.Bucket(bucketIdem),
		idemTime: tx.Bucket(bucketIdemTime),
		head:     head,
		out:      make([]*broker.Event, 0, n),
		fresh:    make([]*broker.Event, 0, n),
	}
	a.events.FillPercent = appendFillPercent
	a.idemTime.FillPercent = appendFillPercent
	return a, nil
}

// add commits one entry, or finds the event its idempotency key names.
func (a *appender) add(e *broker.Entry) error {
	var ik []byte
	if e.IdempotencyKey != "" {
		ik = idemKey(e.Room, e.IdempotencyKey)
		if i, ok := a.keys[string(ik)]; ok {
			a.out = append(a.out, a.out[i])
			return nil
		}
		if v := a.idem.Get(ik); v != nil {
			ev, err := decodeIdemValue(v)
			if err != nil {
				return fmt.Errorf("idempotency key %q: %w", e.IdempotencyKey, err)
			}
			if ev.Room != e.Room {
				return fmt.Errorf("idempotency key %q names an event of room %q: %w", e.IdempotencyKey, ev.Room, errCorrupt)
			}
			a.remember(ik)
			a.out = append(a.out, ev)
			return nil
		}
	}
	a.head++
	ev := &broker.Event{
		Offset: a.head,
		ID:     e.ID,
		Room:   e.Room,
		Type:   e.Type,
		Data:   e.Data, // the caller's to give (Log.Append): not copied
		Time:   e.Time.UTC(),
		From:   e.From,
	}
	key := a.put(func(b []byte) []byte { return appendKey(b, ev.Offset) })
	rec := a.put(func(b []byte) []byte { return appendRecord(b, ev) })
	if err := a.events.Put(key, rec); err != nil {
		return err
	}
	if ik != nil {
		v := a.put(func(b []byte) []byte { return appendIdemValue(b, ev.Offset, rec) })
		if err := a.idem.Put(ik, v); err != nil {
			return fmt.Errorf("idempotency key: %w", err)
		}
		tk := a.put(func(b []byte) []byte { return appendTimeKey(b, ev.Time, ik) })
		if err := a.idemTime.Put(tk, []byte{}); err != nil {
			return fmt.Errorf("idempotency index: %w", err)
		}
		a.remember(ik)
	}
	a.out = append(a.out, ev)
	a.fresh = append(a.fresh, ev)
	return nil
}

// put appends to the arena with fn and returns what fn appended.
func (a *appender) put(fn func([]byte) []byte) []byte {
	start := len(a.arena)
	a.arena = fn(a.arena)
	return a.arena[start:len(a.arena):len(a.arena)]
}

// remember records that idempotency key ik resolves to the next event of out.
func (a *appender) remember(ik []byte) {
	if a.keys == nil {
		a.keys = make(map[string]int)
	}
	a.keys[string(ik)] = len(a.out)
}

// finish writes the head.
func (a *appender) finish() error {
	if err := a.tx.Bucket(bucketMeta).Put(keyHead, encodeKey(a.head)); err != nil {
		return fmt.Errorf("head: %w", err)
	}
	return nil
}

// writeTime is bbolt's running total of time spent writing pages and
// fsyncing. Between two readings around an Append it also counts a Trim
// or state transaction that committed while the Append waited for bbolt's
// write lock (the indexer's do not: wmu excludes them), so the write
// latency of OnCommit is an upper bound.
func writeTime(db *bbolt.DB) time.Duration {
	st := db.Stats()
	return st.TxStats.GetWriteTime()
}
