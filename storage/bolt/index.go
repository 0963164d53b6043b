package bolt

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

// The room index is derived data. Append writes only the events bucket
// (plus head and idempotency keys); the indexer adds each event's offset to
// its room's bucket under rooms and updates the room's metadata, in large
// batches, and sets meta.indexed to the highest offset it covers, all in
// one transaction. Reads combine the index with pending, the in-memory
// list of what it does not cover yet.

// emptyValue is the value of every room index entry.
var emptyValue = []byte{}

// runIndexer is the indexer goroutine, owned by the Log: it indexes when
// Append reports IndexBatch unindexed events and on every IndexInterval
// tick, until Close closes l.stop. After a failed pass it logs the error
// (unless the disk is full: see faults.go) and waits for the next tick (not for the next wake-up) to retry.
func (l *Log) runIndexer() {
	t := time.NewTicker(l.indexInterval)
	defer t.Stop()
	failing := false
	for {
		ticked := false
		select {
		case <-l.stop:
			return
		case <-l.wake:
			if failing {
				continue
			}
		case <-t.C:
			ticked = true
		}
		maxRooms := noRoomCap
		if ticked && l.pend.unindexed() <= l.indexBatch/2 {
			maxRooms = maxIndexRooms
		}
		err := l.indexAll(l.stop, maxRooms)
		failing = err != nil
		if err != nil && !errors.Is(err, broker.ErrInsufficientStorage) { // a full disk is logged by its rate limit (faults.go)
			l.logger.Error("bolt: indexing rooms failed; retrying on the next tick", "err", err)
		}
	}
}

// indexAll indexes the events unindexed when it starts (not those
// appended meanwhile, so that a busy log does not keep it committing
// small transactions), in transactions of at most l.indexTxMax events and
// maxRooms rooms, until done, an error, or stop is closed (checked
// between transactions; nil never closes).
func (l *Log) indexAll(stop <-chan struct{}, maxRooms int) error {
	until := l.Head()
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		more, err := l.indexOnce(l.indexTxMax, until, maxRooms)
		if err != nil || !more {
			return err
		}
		runtime.Gosched() // let an Append that waits for wmu go first
	}
}

// maxIndexRooms is the most rooms one transaction of a light pass
// touches: a pass on the interval tick over at most IndexBatch/2 events
// (a log appended to at a moderate rate). Indexing costs a few
// microseconds per room of the transaction besides its events (the
// room's bucket, its metadata), all while Appends wait: one pass over a
// second of 2,000 events in 1,000 rooms held them for 10–19 ms here, a
// stall that a one-second interval puts into the p99 of a many-room
// load. In transactions of at most this many rooms the longest wait is a
// few milliseconds (BenchmarkAppendManyRooms, medians of 3 alternating
// runs on a shared disk: Append p99 1.53 → 1.35 ms, max 8.0 → 6.1 ms; with
// Appends back to back on a busier disk, p99 13.3 → 5.4 ms, mean 1.0 →
// 0.59 ms, medians of 5), at a cost: every transaction rewrites the pages
// of the rooms it touches, so the pass costs about 2–3 times as much in
// all (10 → 22–33 ms for those 2,000 events). Passes woken by
// IndexBatch events (ingest under load), at Close and before Trim take
// every room at once (noRoomCap): there the total is what counts (8,192
// events over 1,000 rooms: 30 ms in one transaction, 150–230 ms in
// transactions of 256 rooms).
const maxIndexRooms = 256

// noRoomCap is the room limit of a pass that takes every room at once.
const noRoomCap = math.MaxInt

// indexOnce commits one index transaction covering up to limit of the
// oldest unindexed events, none beyond offset until, in at most maxRooms
// rooms (see pending.chunk). It reports whether
// unindexed events up to until remain. It holds l.wmu, so Appends wait
// (they would wait for bbolt's write lock anyway).
func (l *Log) indexOnce(limit, until uint64, maxRooms int) (more bool, err error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	from, target, rooms := l.pend.chunk(limit, until, maxRooms)
	if target <= from {
		return false, nil
	}
	err = l.update(from+1, target, func(tx *bbolt.Tx) error { return writeIndex(tx, from, target, rooms) })
	if err != nil {
		return false, fmt.Errorf("index offsets %d to %d: %w", from+1, target, err)
	}
	l.pend.drain(target)
	return target < until && l.pend.unindexed() > 0, nil
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
