package bolt

import (
	"errors"
	"fmt"
	"os"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

// salvageBatch is how many events Salvage writes per transaction.
const salvageBatch = 10_000

// Range is an inclusive range of offsets.
type Range struct{ From, To uint64 }

// SalvageReport is the result of Salvage.
type SalvageReport struct {
	OldEpoch, NewEpoch string  // the epochs of the damaged log ("" when unreadable) and of the new one
	OldHead            uint64  // the head the damaged log stored (0 when unreadable)
	Events             int     // events copied, with their offsets and ids
	Journaled          int     // of them, events the journal held that the file did not (not applied yet)
	First, Last        uint64  // the offsets of the first and last event copied (0 when none)
	Lost               []Range // offsets on damaged pages: their events, if any, are lost (gaps that retention made in them are included)
	Undecodable        []uint64
}

// Salvage copies every readable event of the log file at src, which no
// process may have open (it is opened read-only and never written), into
// a new log at dst, which must not exist: each event keeps its offset,
// id, room, type, data, time and sender; the new log has a new epoch, so
// that clients positioned in the old one are told (recovered: false)
// instead of misreading a position. The room index is rebuilt. Damaged
// pages are skipped, not fatal: the offsets they covered are reported in
// Lost, and a record that does not decode in Undecodable. The events of
// src's journal that it does not hold yet are copied after them, while the
// journal is readable. Idempotency keys
// and state records (Socket.IO sessions, read positions) are not carried
// over. It fails when src cannot be opened at all or dst cannot be
// written; dst is then left incomplete.
func Salvage(src, dst string) (*SalvageReport, error) {
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("bolt: salvage: %s exists: recover into a new file", dst)
	}
	sdb, err := bbolt.Open(src, 0o600, &bbolt.Options{ReadOnly: true, Timeout: DefaultTimeout})
	if err != nil {
		return nil, fmt.Errorf("bolt: salvage: open %s: %w", src, err)
	}
	defer sdb.Close()
	out, err := Open(dst, Options{})
	if err != nil {
		return nil, fmt.Errorf("bolt: salvage: %w", err)
	}
	rep := &SalvageReport{NewEpoch: out.Epoch()}
	var batch []*broker.Event
	flush := func() error {
		err := out.restore(batch)
		batch = batch[:0]
		return err
	}
	err = sdb.View(func(tx *bbolt.Tx) error {
		guardedMeta(tx, rep)
		events := tx.Bucket(bucketEvents)
		if events == nil {
			return errors.New("no events bucket: not an rtbroker log, or its root is damaged")
		}
		w := walker{b: events, limit: max(rep.OldHead, 1<<62)}
		return w.walk(func(off uint64, v []byte) error {
			ev := &broker.Event{Offset: off}
			if err := decodeRecord(v, ev); err != nil {
				rep.Undecodable = append(rep.Undecodable, off)
				return nil
			}
			if rep.First == 0 {
				rep.First = off
			}
			rep.Last = off
			rep.Events++
			batch = append(batch, ev)
			if len(batch) == salvageBatch {
				return flush()
			}
			return nil
		}, func(r Range) { rep.Lost = append(rep.Lost, r) })
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = salvageJournal(sdb, src, rep, out)
	}
	if err == nil && rep.OldHead > rep.Last && len(rep.Lost) > 0 && rep.Lost[len(rep.Lost)-1].To >= rep.OldHead {
		rep.Lost[len(rep.Lost)-1].To = rep.OldHead // the walker probes beyond the head
	}
	if cerr := out.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return rep, fmt.Errorf("bolt: salvage %s into %s: %w", src, dst, err)
	}
	return rep, nil
}

// salvageJournal copies the events of src's journal above the last event
// copied, as long as the journal reads (the batches must follow the file's
// stored head, and each other).
func salvageJournal(sdb *bbolt.DB, src string, rep *SalvageReport, out *Log) error {
	var jseq, jpos uint64
	err := sdb.View(func(tx *bbolt.Tx) error {
		defer func() { _ = recover() }() // a damaged meta bucket: no journal to read
		if meta := tx.Bucket(bucketMeta); meta != nil {
			jseq, jpos = decodeUint(meta.Get(keyJSeq)), decodeUint(meta.Get(keyJPos))
		}
		return nil
	})
	if err != nil || rep.OldEpoch == "" {
		return err
	}
	head := rep.OldHead
	var werr error // of writing dst; a journal that stops reading just ends the copy
	_, _ = readJournal(src, rep.OldEpoch, jseq, jpos, func(b *jbatch) error {
		if b.prev != head {
			return errCorrupt // the rest does not follow: stop
		}
		head = b.head()
		evs, err := b.events()
		if err != nil {
			return err
		}
		var fresh []*broker.Event
		for _, ev := range evs {
			if ev.Offset > rep.Last {
				fresh = append(fresh, ev)
			}
		}
		if len(fresh) == 0 {
			return nil
		}
		if werr = out.restore(fresh); werr != nil {
			return werr
		}
		if rep.First == 0 {
			rep.First = fresh[0].Offset
		}
		rep.Last = fresh[len(fresh)-1].Offset
		rep.Events += len(fresh)
		rep.Journaled += len(fresh)
		return nil
	})
	return werr
}

// guardedMeta reads the old epoch and head, if the metadata is readable.
func guardedMeta(tx *bbolt.Tx, rep *SalvageReport) {
	defer func() { _ = recover() }() // a damaged meta bucket: salvage the events anyway
	if meta := tx.Bucket(bucketMeta); meta != nil {
		rep.OldEpoch = string(meta.Get(keyEpoch))
		rep.OldHead, _ = readHead(tx)
	}
}

// walker reads a bucket of offset keys in order past damaged pages: where
// bbolt panics or a key does not decode or ascend, it probes for the next
// readable key (exponentially, then by bisection) and reports the offsets
// in between as lost.
type walker struct {
	b     *bbolt.Bucket
	limit uint64 // the highest offset probed for
}

// seek returns the first key at or after off and its value; ok is false
// when bbolt panicked or the key does not decode or is below off.
func (w *walker) seek(off uint64) (c *bbolt.Cursor, k uint64, v []byte, end, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	c = w.b.Cursor()
	kb, v := c.Seek(encodeKey(off))
	if kb == nil {
		return c, 0, nil, true, true
	}
	k, err := decodeKey(kb)
	return c, k, v, false, err == nil && k >= off
}

// next moves c on; ok as for seek, with keys above prev.
func (w *walker) next(c *bbolt.Cursor, prev uint64) (k uint64, v []byte, end, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	kb, v := c.Next()
	if kb == nil {
		return 0, nil, true, true
	}
	k, err := decodeKey(kb)
	return k, v, false, err == nil && k > prev
}

// walk calls fn with each readable key and value in order, and lost with
// each range of offsets it could not read.
func (w *walker) walk(fn func(uint64, []byte) error, lost func(Range)) error {
	pos := uint64(1) // the lowest offset not yet read or reported
	for pos <= w.limit {
		c, k, v, end, ok := w.seek(pos)
		for ok && !end {
			if err := fn(k, v); err != nil {
				return err
			}
			pos = k + 1
			k, v, end, ok = w.next(c, k)
		}
		if ok { // the end
			return nil
		}
		// pos is on a damaged page: find the lowest offset above it that
		// seeks, and report the offsets before the key found there.
		hi, step := pos+1, uint64(1)
		for hi <= w.limit {
			if _, _, _, _, ok := w.seek(hi); ok {
				break
			}
			step *= 2
			hi += step
		}
		lo := pos // seek(lo) fails; seek(hi) succeeds or hi > limit
		for hi <= w.limit && hi-lo > 1 {
			mid := lo + (hi-lo)/2
			if _, _, _, _, ok := w.seek(mid); ok {
				hi = mid
			} else {
				lo = mid
			}
		}
		if hi > w.limit {
			lost(Range{pos, w.limit})
			return nil
		}
		_, k2, _, end2, _ := w.seek(hi)
		to := k2 - 1
		if end2 {
			to = w.limit
		}
		lost(Range{pos, to})
		if end2 {
			return nil
		}
		pos = k2
	}
	return nil
}
