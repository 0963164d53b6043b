package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

// maxProblems is the most problems a CheckReport lists; the rest are
// counted.
const maxProblems = 1000

// CheckReport is the result of Check.
type CheckReport struct {
	Epoch   string // the log's epoch ("" when unreadable)
	Head    uint64 // the stored head
	Indexed uint64 // the stored indexed offset
	Events  int    // events read and decoded
	Rooms   int    // rooms in the index
	States  int    // state records
	// Journaled is how many Appends the journal holds that the file does
	// not (the server applies them when it starts), with JournalEvents
	// events up to offset JournalHead.
	Journaled, JournalEvents int
	JournalHead              uint64
	Problems                 []string // what is wrong, at most 1000; empty: the file is sound
	More                     int      // problems found beyond those listed
}

// OK reports whether no problem was found.
func (r *CheckReport) OK() bool { return len(r.Problems) == 0 }

func (r *CheckReport) problem(format string, args ...any) {
	if len(r.Problems) >= maxProblems {
		r.More++
		return
	}
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Check verifies the log file at path, which no process may have open
// (it takes the file lock, waiting at most DefaultTimeout, and opens the
// file read-only: nothing is written). It runs bbolt's consistency check
// (page reachability, freelist, key order) and then the log's own
// invariants: the metadata is present and of this format; event offsets
// ascend and stay at or below the head; every event decodes; every event
// up to the indexed offset is in its room's index and every index entry
// names an event of that room (or one retention removed); each room's
// metadata agrees with its index; the state records and their expiry
// index agree; the journal's records not applied yet decode and follow
// the file's head. A damaged page is reported, never a panic. The error is
// for a file that cannot be opened at all; problems are in the report.
func Check(path string) (*CheckReport, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: DefaultTimeout})
	if err != nil {
		return nil, fmt.Errorf("bolt: check %s: %w", path, err)
	}
	defer db.Close()
	r := &CheckReport{}
	err = db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			r.problem("bbolt: %v", err)
		}
		steps := []struct {
			name string
			fn   func(*bbolt.Tx, *CheckReport)
		}{
			{"metadata", verifyMeta},
			{"events", verifyEvents},
			{"room index", verifyIndex},
			{"state", verifyState},
			{"journal", func(tx *bbolt.Tx, r *CheckReport) { verifyJournal(path, tx, r) }},
		}
		for _, s := range steps {
			guarded(r, s.name, func() { s.fn(tx, r) })
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: check %s: %w", path, err)
	}
	return r, nil
}

// guarded runs fn and reports a panic of bbolt (a damaged page) as a
// problem of the step name.
func guarded(r *CheckReport, name string, fn func()) {
	defer func() {
		if p := recover(); p != nil {
			r.problem("%s: damaged page (bbolt panicked: %v)", name, p)
		}
	}()
	fn()
}

// verifyJournal counts the journaled Appends the file does not hold yet
// and checks that they decode and follow its head.
func verifyJournal(path string, tx *bbolt.Tx, r *CheckReport) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil || r.Epoch == "" {
		return
	}
	head := r.Head
	_, err := readJournal(path, r.Epoch, decodeUint(meta.Get(keyJSeq)), decodeUint(meta.Get(keyJPos)), func(b *jbatch) error {
		if b.prev != head {
			return fmt.Errorf("batch follows offset %d, the head before it is %d: %w", b.prev, head, errCorrupt)
		}
		if _, err := b.events(); err != nil {
			return err
		}
		head = b.head()
		r.Journaled++
		r.JournalEvents += len(b.evs)
		return nil
	})
	r.JournalHead = head
	if err != nil {
		r.problem("journal: %v", err)
	}
}

func verifyMeta(tx *bbolt.Tx, r *CheckReport) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		r.problem("metadata: bucket %s missing: not an rtbroker log, or damaged", bucketMeta)
		return
	}
	if v := meta.Get(keyVersion); len(v) != 8 || decodeUint(v) != formatVersion && decodeUint(v) != formatNoJournal {
		r.problem("metadata: format version %x, want %d (a format-2 file is migrated by serve, then checked)", v, formatVersion)
	}
	r.Epoch = string(meta.Get(keyEpoch))
	if r.Epoch == "" {
		r.problem("metadata: epoch missing")
	}
	var err error
	if r.Head, err = readHead(tx); err != nil {
		r.problem("metadata: head: %v", err)
	}
	if r.Indexed, err = readIndexed(tx); err != nil {
		r.problem("metadata: indexed offset: %v", err)
	}
	if r.Indexed > r.Head {
		r.problem("metadata: indexed offset %d beyond the head %d", r.Indexed, r.Head)
	}
	for _, name := range topBuckets {
		if tx.Bucket(name) == nil {
			r.problem("metadata: bucket %s missing", name)
		}
	}
}

func verifyEvents(tx *bbolt.Tx, r *CheckReport) {
	events, rooms := tx.Bucket(bucketEvents), tx.Bucket(bucketRooms)
	if events == nil || rooms == nil {
		return
	}
	var prev uint64
	var ev broker.Event
	c := events.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		off, err := decodeKey(k)
		if err != nil {
			r.problem("events: key %x: %v", k, err)
			continue
		}
		switch {
		case off <= prev:
			r.problem("events: offset %d after %d: offsets must ascend", off, prev)
		case off > r.Head:
			r.problem("events: offset %d beyond the head %d", off, r.Head)
		}
		prev = max(prev, off)
		if err := decodeRecord(v, &ev); err != nil {
			r.problem("events: offset %d: %v", off, err)
			continue
		}
		r.Events++
		if off <= r.Indexed {
			if b := rooms.Bucket([]byte(ev.Room)); b == nil || b.Get(k) == nil {
				r.problem("room index: event %d of room %q is not in the room's index", off, ev.Room)
			}
		}
	}
}

func verifyIndex(tx *bbolt.Tx, r *CheckReport) {
	rooms, metas, events := tx.Bucket(bucketRooms), tx.Bucket(bucketRoomMeta), tx.Bucket(bucketEvents)
	if rooms == nil || metas == nil || events == nil {
		return
	}
	var ev broker.Event
	_ = rooms.ForEachBucket(func(name []byte) error {
		r.Rooms++
		mv := metas.Get(name)
		m, err := decodeRoomMeta(mv)
		if mv == nil || err != nil {
			r.problem("room %q: metadata missing or damaged", name)
		}
		var n, first, last uint64
		c := rooms.Bucket(name).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			off, err := decodeKey(k)
			if err != nil {
				r.problem("room %q index: key %x: %v", name, k, err)
				continue
			}
			if off > r.Indexed {
				r.problem("room %q index: offset %d beyond the indexed offset %d", name, off, r.Indexed)
			}
			n++
			if first == 0 {
				first = off
			}
			last = off
			v := events.Get(k)
			if v == nil {
				r.problem("room %q index: offset %d names no event", name, off)
				continue
			}
			if err := decodeRecord(v, &ev); err == nil && ev.Room != string(name) {
				r.problem("room %q index: offset %d is an event of room %q", name, off, ev.Room)
			}
		}
		if err == nil && mv != nil && (m.count != n || (n > 0 && (m.first != first || m.head < last))) {
			r.problem("room %q: metadata says %d events from %d to %d, the index has %d from %d to %d",
				name, m.count, m.first, m.head, n, first, last)
		}
		return nil
	})
}

func verifyState(tx *bbolt.Tx, r *CheckReport) {
	state, stime := tx.Bucket(bucketState), tx.Bucket(bucketStateTime)
	if state == nil || stime == nil {
		return
	}
	c := state.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		r.States++
		code, _, err := decodeStateValue(v)
		if err != nil {
			r.problem("state key %q: %v", k, err)
			continue
		}
		if code != 0 && stime.Get(appendStateTimeKey(nil, code, k)) == nil {
			r.problem("state key %q: expiry %s not in the expiry index", k, expiryTime(code).Format(time.RFC3339))
		}
	}
	tc := stime.Cursor()
	for k, _ := tc.First(); k != nil; k, _ = tc.Next() {
		if len(k) < expiryLen {
			r.problem("state expiry index: key %x too short", k)
			continue
		}
		code, key := binary.BigEndian.Uint64(k), k[expiryLen:]
		v := state.Get(key)
		if v == nil {
			r.problem("state expiry index: key %q names no record", key)
			continue
		}
		if got, _, err := decodeStateValue(v); err == nil && !bytes.Equal(binary.BigEndian.AppendUint64(nil, got), k[:expiryLen]) {
			r.problem("state expiry index: key %q expires at %d, the record at %d", key, code, got)
		}
	}
}
