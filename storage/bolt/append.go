package bolt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

// appendFillPercent is how full bbolt fills a page before splitting it in
// buckets written in key order (events, room indexes, the expiry index):
// nearly full, as nothing is ever inserted before the end.
const appendFillPercent = 0.95

// Append commits entries as one journal record, fdatasynced before it
// returns, and returns the committed event of each entry; see
// broker.Log.Append. The events, the head and the idempotency keys are in
// that one record, so a crash leaves either all of them or none; the
// checkpointer applies the record to bbolt later (see journal.go and
// index.go), and until then reads take its events from memory (see
// pending).
//
// Idempotency keys are scoped to their room; a repeated key returns the
// original event even after retention removed it from its room. Entries
// with an empty Room fail with an error wrapping broker.ErrInvalid; a
// canceled ctx (before the record is written) fails with ctx.Err()
// wrapped; on any error nothing is committed. The returned events are the
// caller's, and the log keeps them (unchanged) until they are applied:
// the caller must not modify them or an entry's Data. An empty batch
// commits nothing.
func (l *Log) Append(ctx context.Context, entries []broker.Entry) ([]*broker.Event, error) {
	return l.AppendWith(ctx, entries, nil)
}

// AppendWith is Append that also writes the state records recs, as Put
// does, in the same journal record: one fdatasync for both, and after a
// crash both or neither are there; see broker.StateLog. A bad record fails
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
	if len(entries) == 0 && len(recs) == 0 {
		return []*broker.Event{}, nil
	}
	out, err := l.commit(ctx, entries, recs)
	if err != nil {
		return nil, fmt.Errorf("bolt: append: %w", err)
	}
	return out, nil
}

// commit journals entries and recs (validated, not both empty), applying
// the journal first when it is full; the caller acquired mu.
func (l *Log) commit(ctx context.Context, entries []broker.Entry, recs []broker.Record) ([]*broker.Event, error) {
	for {
		out, err := l.appendOnce(ctx, entries, recs)
		if !errors.Is(err, errJournalFull) {
			return out, err
		}
		// The journal is full of records not applied yet: apply them.
		if cerr := l.checkpoint(nil); cerr != nil {
			// A disk with a little room again may have taken some of them.
			if out, err := l.appendOnce(ctx, entries, recs); !errors.Is(err, errJournalFull) {
				return out, err
			}
			return nil, fmt.Errorf("the journal is full and applying it failed: %w", cerr)
		}
	}
}

// appendOnce resolves the idempotency keys of entries, writes the new
// events and recs as the next journal record and hands them to pending.
// It fails with errJournalFull when the record does not fit yet.
func (l *Log) appendOnce(ctx context.Context, entries []broker.Entry, recs []broker.Record) ([]*broker.Event, error) {
	// wmu makes the journal, pend and head follow one order.
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var start time.Time
	if l.onCommit != nil {
		start = time.Now()
	}
	prev := l.head.Load()
	a := appender{head: prev, db: l.db, pend: l.pend,
		out: make([]*broker.Event, 0, len(entries)), fresh: make([]*broker.Event, 0, len(entries))}
	defer a.close()
	for i := range entries {
		if err := a.add(&entries[i]); err != nil {
			return nil, fmt.Errorf("append to room %q: %w", entries[i].Room, err)
		}
	}
	a.close() // not held over the write: a checkpoint that grows bbolt's map waits for read transactions
	if len(a.fresh) == 0 && len(recs) == 0 {
		return a.out, nil // every entry named an event committed before
	}
	buf := make([]byte, journalHeaderLen, journalHeaderLen+batchSize(a.fresh, a.iks, recs))
	buf = encodeBatch(buf, prev, a.fresh, a.iks, recs)
	b, err := decodeBatch(buf[journalHeaderLen:])
	if err != nil {
		return nil, err
	}
	b.size = int64(len(buf))
	if !l.jrn.fits(b.size) && l.jrn.size-journalHeaderLen < b.size {
		if err := l.jrn.grow(b.size); err != nil {
			return nil, l.jrnErr(err)
		}
	}
	var wrote time.Time
	if l.onCommit != nil {
		wrote = time.Now()
	}
	b.end, err = l.jrn.write(buf)
	if err != nil {
		return nil, l.jrnErr(err)
	}
	b.seq = l.jrn.seq
	if l.onCommit != nil && len(a.fresh) > 0 {
		l.onCommit(len(a.fresh), time.Since(start), time.Since(wrote))
	}
	// Durable now: readers may see the events (pend first, then the head
	// that caps reads).
	l.jq = append(l.jq, b)
	evs := make([]*broker.Event, len(a.fresh))
	for i, e := range a.fresh {
		evs[i] = b.event(i, e)
	}
	events, records := l.pend.add(b, evs)
	l.head.Store(b.head())
	if events >= l.indexBatch || records >= stateWake || l.jrn.bytes >= l.jrn.size/4 {
		select {
		case l.wake <- struct{}{}:
		default: // already woken
		}
	}
	return a.out, nil
}

// stateWake is how many keys with state records not applied wake the
// checkpointer: a burst of Socket.IO connects writes a session record
// each, and what is not applied is held in memory twice (the journal
// record and the record), which a server that keeps its freed memory
// (no release) would keep mapped.
const stateWake = 1024

// jrnErr is err of a journal write, recorded in the health when the disk
// refused it (errJournalFull is not an error of the disk).
func (l *Log) jrnErr(err error) error {
	if errors.Is(err, errJournalFull) {
		return err
	}
	return l.health.wrote(fmt.Errorf("journal: %w", err))
}

// appender resolves the entries of one Append into events; the caller
// holds wmu.
type appender struct {
	db   *bbolt.DB
	pend *pending
	tx   *bbolt.Tx // a read transaction for the idempotency keys applied, opened when first needed

	head  uint64         // last offset assigned
	keys  map[string]int // idemKey → index in out, for keys of this batch
	out   []*broker.Event
	fresh []*broker.Event // the events of out committed by this batch, in offset order
	iks   [][]byte        // the idempotency key of each of fresh (nil: none)
}

// add assigns one entry the next offset, or finds the event its
// idempotency key names: in this batch, in pending (journaled, not
// applied), or in bbolt. pending is asked first: the checkpointer drains
// a key from it only after bbolt has it, so a transaction opened after
// that sees it.
func (a *appender) add(e *broker.Entry) error {
	var ik []byte
	if e.IdempotencyKey != "" {
		ik = idemKey(e.Room, e.IdempotencyKey)
		if i, ok := a.keys[string(ik)]; ok {
			a.out = append(a.out, a.out[i])
			return nil
		}
		ev, err := a.lookup(ik)
		if err != nil {
			return fmt.Errorf("idempotency key %q: %w", e.IdempotencyKey, err)
		}
		if ev != nil {
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
	if ik != nil {
		a.remember(ik)
	}
	a.out = append(a.out, ev)
	a.fresh = append(a.fresh, ev)
	a.iks = append(a.iks, ik)
	return nil
}

// lookup returns the committed event idempotency key ik names, or nil.
func (a *appender) lookup(ik []byte) (*broker.Event, error) {
	if ev := a.pend.idemEvent(ik); ev != nil {
		return copyEvent(ev), nil
	}
	if a.tx == nil {
		tx, err := a.db.Begin(false)
		if err != nil {
			return nil, err
		}
		a.tx = tx
	}
	v := a.tx.Bucket(bucketIdem).Get(ik)
	if v == nil {
		return nil, nil
	}
	return decodeIdemValue(v)
}

// close ends the appender's read transaction, if it has one open.
func (a *appender) close() {
	if a.tx != nil {
		_ = a.tx.Rollback()
		a.tx = nil
	}
}

// remember records that idempotency key ik resolves to the next event of out.
func (a *appender) remember(ik []byte) {
	if a.keys == nil {
		a.keys = make(map[string]int)
	}
	a.keys[string(ik)] = len(a.out)
}
