package bolt

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

// The checkpointer. Append writes a journal record (journal.go) and keeps
// its events in memory (pending); the checkpointer applies the journaled
// batches to bbolt, many in one transaction: their events, head,
// idempotency keys and state records, and the room index of their events
// (each event's offset in its room's bucket under rooms, and the room's
// metadata), and sets meta.indexed to the head it reached and
// meta.jseq/jpos to the journal record it applied last, all in one
// transaction. Then it drains pending and frees the records' journal
// space. Reads combine bbolt with pending.

// emptyValue is the value of every room index entry.
var emptyValue = []byte{}

// runCheckpointer is the checkpointer goroutine, owned by the Log: it
// checkpoints when Append reports IndexBatch events not applied (or a
// quarter of the journal used) and on every IndexInterval tick, until
// Close closes l.stop. After a failed pass it logs the error (unless the
// disk is full: see faults.go) and waits for the next tick (not for the
// next wake-up) to retry.
func (l *Log) runCheckpointer() {
	t := time.NewTicker(l.indexInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-l.stop:
			return
		case <-l.wake:
			if failing {
				continue
			}
		case <-t.C:
		}
		err := l.checkpoint(l.stop)
		failing = err != nil
		if err != nil && !errors.Is(err, broker.ErrInsufficientStorage) { // a full disk is logged by its rate limit (faults.go)
			l.logger.Error("bolt: checkpoint failed; retrying on the next tick", "err", err)
		}
	}
}

// checkpoint applies every batch journaled before it started, in
// transactions of at most indexTxMax events, until done, an error, or stop
// is closed (checked between transactions; nil: never).
func (l *Log) checkpoint(stop <-chan struct{}) error {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	return l.checkpointLocked(stop)
}

// checkpointLocked is checkpoint for a caller that holds cmu.
func (l *Log) checkpointLocked(stop <-chan struct{}) error {
	l.wmu.Lock()
	last := uint64(0)
	if n := len(l.jq); n > 0 {
		last = l.jq[n-1].seq
	}
	l.wmu.Unlock()
	limit := l.indexTxMax
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		more, err := l.applyOldest(last, limit)
		if errors.Is(err, broker.ErrInsufficientStorage) && limit > 0 {
			// A disk that has some room again may not have room for a
			// large transaction: one Append per transaction needs little.
			limit = 0
			continue
		}
		if err != nil || !more {
			return err
		}
	}
}

// applyOldest applies the oldest journaled batches up to seq last, as
// many as have at most maxEvents events (at least one batch), in one
// transaction, and reports whether there was any. The caller holds cmu.
func (l *Log) applyOldest(last, maxEvents uint64) (bool, error) {
	l.wmu.Lock()
	n, events := 0, uint64(0)
	for n < len(l.jq) && l.jq[n].seq <= last {
		events += uint64(len(l.jq[n].evs))
		if n > 0 && events > maxEvents {
			break
		}
		n++
	}
	bs := l.jq[:n:n]
	l.wmu.Unlock()
	if n == 0 {
		return false, nil
	}
	if err := l.apply(bs); err != nil {
		return false, err
	}
	l.wmu.Lock()
	clear(l.jq[:n]) // let go of the applied batches: the array outlives them
	l.jq = l.jq[n:]
	if len(l.jq) == 0 {
		l.jq = nil
	}
	l.wmu.Unlock()
	return true, nil
}

// apply commits the batches bs, oldest first, in one transaction with the
// room index of their events; then it drains pending and frees their
// journal space. The caller holds cmu.
func (l *Log) apply(bs []*jbatch) error {
	last := bs[len(bs)-1]
	from, target, rooms := l.pend.chunk(last.head())
	start := time.Now()
	var bytes int64
	events := 0
	for _, b := range bs {
		bytes += b.size
		events += len(b.evs)
	}
	err := l.update(bs[0].prev+1, last.head(), func(tx *bbolt.Tx) error {
		var arena []byte
		for _, b := range bs {
			if err := applyBatch(tx, b, &arena); err != nil {
				return fmt.Errorf("journal record %d: %w", b.seq, err)
			}
		}
		if target > from {
			if err := writeIndex(tx, from, target, rooms); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyJSeq, encodeKey(last.seq)); err != nil {
			return err
		}
		return meta.Put(keyJPos, encodeKey(uint64(last.end)))
	})
	if err != nil {
		return fmt.Errorf("checkpoint offsets %d to %d: %w", bs[0].prev+1, last.head(), err)
	}
	l.pend.drain(target, bs)
	l.wmu.Lock()
	l.jrn.applied(len(bs), bytes, last.end)
	l.wmu.Unlock()
	if l.onCheckpoint != nil {
		l.onCheckpoint(len(bs), events, time.Since(start))
	}
	return nil
}

// applyBatch writes one journaled batch into tx: its events at the end of
// the events bucket, the head, its idempotency keys and its state records.
// The keys and values it puts go to *arena, which must stay unchanged
// until the commit (sub-slices stay valid when append moves it).
func applyBatch(tx *bbolt.Tx, b *jbatch, arena *[]byte) error {
	if len(b.evs) > 0 {
		head, err := readHead(tx)
		if err != nil {
			return err
		}
		if head != b.prev {
			return fmt.Errorf("batch follows offset %d, the file's head is %d: %w", b.prev, head, errCorrupt)
		}
		events, idem, idemTime := tx.Bucket(bucketEvents), tx.Bucket(bucketIdem), tx.Bucket(bucketIdemTime)
		events.FillPercent = appendFillPercent
		idemTime.FillPercent = appendFillPercent
		put := func(fn func([]byte) []byte) []byte {
			start := len(*arena)
			*arena = fn(*arena)
			return (*arena)[start:len(*arena):len(*arena)]
		}
		for i, e := range b.evs {
			off := b.prev + 1 + uint64(i)
			if err := events.Put(put(func(a []byte) []byte { return appendKey(a, off) }), e.rec); err != nil {
				return err
			}
			if e.ik == nil {
				continue
			}
			t, err := recordTime(e.rec)
			if err != nil {
				return err
			}
			if err := idem.Put(e.ik, put(func(a []byte) []byte { return appendIdemValue(a, off, e.rec) })); err != nil {
				return fmt.Errorf("idempotency key: %w", err)
			}
			if err := idemTime.Put(put(func(a []byte) []byte { return appendTimeKey(a, t, e.ik) }), emptyValue); err != nil {
				return fmt.Errorf("idempotency index: %w", err)
			}
		}
		if err := tx.Bucket(bucketMeta).Put(keyHead, encodeKey(b.head())); err != nil {
			return fmt.Errorf("head: %w", err)
		}
	}
	if len(b.recs) > 0 {
		return putRecords(tx, b.recs)
	}
	return nil
}

// indexLoaded indexes, at Open, the events that an older build left in
// the events bucket unindexed (pending.load), so that pending's tail holds
// every event above the indexed offset from then on.
func (l *Log) indexLoaded() error {
	for {
		from, target, rooms := l.pend.chunk(min(l.pend.indexedOffset()+maxIndexTx, l.Head()))
		if target <= from {
			return nil
		}
		err := l.update(from+1, target, func(tx *bbolt.Tx) error { return writeIndex(tx, from, target, rooms) })
		if err != nil {
			return fmt.Errorf("index offsets %d to %d: %w", from+1, target, err)
		}
		l.pend.drain(target, nil)
	}
}

// writeIndex adds the offsets of rooms, which are all the events in
// (from, target], to the room index and metadata, and sets meta.indexed to
// target.
func writeIndex(tx *bbolt.Tx, from, target uint64, rooms map[string][]uint64) error {
	indexed, err := readIndexed(tx)
	if err != nil {
		return err
	}
	if indexed != from {
		return fmt.Errorf("stored indexed offset %d, want %d: %w", indexed, from, errCorrupt)
	}
	roomBuckets, roomMetas := tx.Bucket(bucketRooms), tx.Bucket(bucketRoomMeta)
	names := make([]string, 0, len(rooms))
	n := 0
	for name, offs := range rooms {
		names = append(names, name)
		n += len(offs)
	}
	slices.Sort(names) // the same file for the same history
	keys := make([]byte, 0, n*keyLen)
	for _, name := range names {
		offs := rooms[name]
		b, err := roomBuckets.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return fmt.Errorf("room %q: index bucket: %w", name, err)
		}
		b.FillPercent = appendFillPercent
		for _, off := range offs {
			keys = appendKey(keys, off)
			if err := b.Put(keys[len(keys)-keyLen:], emptyValue); err != nil {
				return fmt.Errorf("room %q: index offset %d: %w", name, off, err)
			}
		}
		var m roomMeta
		if v := roomMetas.Get([]byte(name)); v != nil {
			if m, err = decodeRoomMeta(v); err != nil {
				return fmt.Errorf("room %q: %w", name, err)
			}
		}
		m.head = offs[len(offs)-1]
		m.count += uint64(len(offs))
		if m.first == 0 {
			m.first = offs[0]
		}
		if err := roomMetas.Put([]byte(name), m.encode()); err != nil {
			return fmt.Errorf("room %q: metadata: %w", name, err)
		}
	}
	return tx.Bucket(bucketMeta).Put(keyIndexed, encodeKey(target))
}
