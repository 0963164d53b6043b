package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

// Migration from format 2 to format 3.
//
// Format 2 kept gateways' own state in internal rooms of the log (names
// starting with broker.InternalPrefix; in practice "_sio.sessions", the
// Socket.IO session records). Format 3 keeps such state in the state
// buckets and the log holds user events only. Migrating deletes every
// event of an internal room, with its room index, its room metadata and
// its idempotency keys, and creates the state buckets. User events keep
// their offsets and the head does not change (offsets keep their meaning
// for clients; the offsets the internal events had are simply unused).
// Old session records are dropped, not converted: a Socket.IO client
// whose session was recorded before the upgrade is answered
// recovered:false once.
//
// The work is done in write transactions of at most Options.TrimBatch
// deletions, in an order that lets a crash at any point resume on the
// next Open: idempotency keys first (found through the internal rooms'
// names, which the later steps still need), then the unindexed internal
// events, then the indexed ones with their room index, and last, in one
// transaction, the room metadata, the new buckets and the version. Each
// step works out what is left from the file itself, so a step repeated
// after a crash finds less to do, never something wrong.

// errNeedsMigration is initFile's answer for a file of format 2.
var errNeedsMigration = errors.New("format 2: migrate first")

// migrate brings a file of format 2 to the current format in place and
// logs one INFO line saying what it removed. Any other file is left alone
// (initFile creates, checks or refuses it).
func migrate(db *bbolt.DB, batch int, logger *slog.Logger) error {
	m, err := newMigration(db)
	if err != nil || m == nil {
		return err
	}
	start := time.Now()
	for done := false; !done; {
		if done, err = m.step(batch); err != nil {
			return fmt.Errorf("migrate from format %d to %d: %w", formatMigrated, formatVersion, err)
		}
	}
	logger.Info(fmt.Sprintf("bolt: migrated the log file from format %d to %d: internal rooms moved out of the log", formatMigrated, formatVersion),
		"path", db.Path(), "internal_rooms", m.names, "events_removed", m.events,
		"idempotency_keys_removed", m.keys, "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// migration is one run of the migration from format 2. It is owned by the
// goroutine running Open.
type migration struct {
	db    *bbolt.DB
	names []string // the internal rooms, found before anything is deleted
	next  uint64   // where the scan of unindexed events goes on
	phase int      // the next step: one of the phase constants

	events, keys int // removed by this run
}

// The steps of a migration, in order.
const (
	phaseKeys      = iota // idempotency keys of internal rooms
	phaseUnindexed        // internal events above meta.indexed
	phaseIndexed          // internal events in the room index
	phaseFinish           // room metadata, new buckets, version
	phaseDone
)

// newMigration returns the migration of db, or nil when db is not a file
// of format 2.
func newMigration(db *bbolt.DB) (*migration, error) {
	m := &migration{db: db}
	isV2 := false
	err := db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		if v := meta.Get(keyVersion); len(v) != 8 || decodeUint(v) != formatMigrated {
			return nil
		}
		isV2 = true
		indexed, err := readIndexed(tx)
		if err != nil {
			return err
		}
		m.next = indexed + 1
		m.names, err = internalRooms(tx, indexed)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("migrate from format %d: %w", formatMigrated, err)
	}
	if !isV2 {
		return nil, nil
	}
	return m, nil
}

// internalRooms returns the names of the internal rooms of a format 2
// file: those with room metadata or a room index, and those of the
// unindexed events above indexed. Internal names sort together (they start
// with "_"), so the buckets are read from a Seek.
func internalRooms(tx *bbolt.Tx, indexed uint64) ([]string, error) {
	seen := map[string]bool{}
	var names []string
	add := func(name []byte) {
		if !seen[string(name)] {
			seen[string(name)] = true
			names = append(names, string(name))
		}
	}
	prefix := []byte(broker.InternalPrefix)
	for _, b := range []*bbolt.Bucket{tx.Bucket(bucketRoomMeta), tx.Bucket(bucketRooms)} {
		if b == nil {
			return nil, fmt.Errorf("room buckets missing: %w", errCorrupt)
		}
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			add(k)
		}
	}
	c := tx.Bucket(bucketEvents).Cursor()
	for k, v := c.Seek(encodeKey(indexed + 1)); k != nil; k, v = c.Next() {
		room, err := recordRoom(v)
		if err != nil {
			return nil, fmt.Errorf("event %x: %w", k, err)
		}
		if broker.IsInternalRoom(string(room)) {
			add(room)
		}
	}
	return names, nil
}

// step commits one transaction of at most budget deletions and reports
// whether the migration is complete.
func (m *migration) step(budget int) (done bool, err error) {
	err = m.db.Update(func(tx *bbolt.Tx) error {
		var events, keys int
		var err error
		switch m.phase {
		case phaseKeys:
			keys, err = m.deleteKeys(tx, budget)
		case phaseUnindexed:
			events, err = m.deleteUnindexed(tx, budget)
		case phaseIndexed:
			events, err = m.deleteIndexed(tx, budget)
		case phaseFinish:
			err = m.finish(tx)
		}
		if err == nil {
			m.events += events
			m.keys += keys
		}
		return err
	})
	return m.phase == phaseDone, err
}

// deleteKeys deletes up to budget idempotency keys of internal rooms, with
// their expiry index entries; when none is left it moves to the next
// phase.
func (m *migration) deleteKeys(tx *bbolt.Tx, budget int) (int, error) {
	idem, idemTime := tx.Bucket(bucketIdem), tx.Bucket(bucketIdemTime)
	n := 0
	for _, name := range m.names {
		prefix := appendBytes(nil, name) // idemKey's room part
		c := idem.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Seek(prefix) {
			if n == budget {
				return n, nil
			}
			if len(v) < keyLen {
				return n, fmt.Errorf("idempotency value of %d bytes: %w", len(v), errCorrupt)
			}
			t, err := recordTime(v[keyLen:])
			if err != nil {
				return n, fmt.Errorf("idempotency key of room %q: %w", name, err)
			}
			if err := idemTime.Delete(appendTimeKey(nil, t, k)); err != nil {
				return n, fmt.Errorf("idempotency index of room %q: %w", name, err)
			}
			if err := c.Delete(); err != nil {
				return n, fmt.Errorf("idempotency key of room %q: %w", name, err)
			}
			n++
		}
	}
	m.phase = phaseUnindexed
	return n, nil
}

// deleteUnindexed deletes up to budget internal events above the indexed
// offset, looking at no more than 4×budget events; when it reaches the end
// of the events it moves to the next phase.
func (m *migration) deleteUnindexed(tx *bbolt.Tx, budget int) (int, error) {
	events := tx.Bucket(bucketEvents)
	var doomed [][]byte
	looked := 0
	c := events.Cursor()
	k, v := c.Seek(encodeKey(m.next))
	for ; k != nil && len(doomed) < budget && looked < 4*budget; k, v = c.Next() {
		looked++
		room, err := recordRoom(v)
		if err != nil {
			return 0, fmt.Errorf("event %x: %w", k, err)
		}
		if broker.IsInternalRoom(string(room)) {
			doomed = append(doomed, bytes.Clone(k))
		}
	}
	for _, d := range doomed {
		if err := events.Delete(d); err != nil {
			return 0, fmt.Errorf("delete event %x: %w", d, err)
		}
	}
	if k == nil {
		m.phase = phaseIndexed
		return len(doomed), nil
	}
	next, err := decodeKey(k)
	if err != nil {
		return 0, err
	}
	m.next = next
	return len(doomed), nil
}

// deleteIndexed deletes up to budget indexed events of internal rooms
// from the events bucket and their room index; a room index it empties is
// deleted. When no internal room index is left it moves to the next
// phase.
func (m *migration) deleteIndexed(tx *bbolt.Tx, budget int) (int, error) {
	rooms, events := tx.Bucket(bucketRooms), tx.Bucket(bucketEvents)
	n := 0
	for _, name := range m.names {
		b := rooms.Bucket([]byte(name))
		if b == nil {
			continue
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.First() {
			if n == budget {
				return n, nil
			}
			if err := events.Delete(bytes.Clone(k)); err != nil {
				return n, fmt.Errorf("room %q: delete event %x: %w", name, k, err)
			}
			if err := c.Delete(); err != nil {
				return n, fmt.Errorf("room %q: delete index entry %x: %w", name, k, err)
			}
			n++
		}
		if err := rooms.DeleteBucket([]byte(name)); err != nil {
			return n, fmt.Errorf("room %q: delete index: %w", name, err)
		}
	}
	m.phase = phaseFinish
	return n, nil
}

// finish deletes the internal rooms' metadata, creates the state buckets
// and writes the new version, in the migration's last transaction.
func (m *migration) finish(tx *bbolt.Tx) error {
	metas := tx.Bucket(bucketRoomMeta)
	for _, name := range m.names {
		if err := metas.Delete([]byte(name)); err != nil {
			return fmt.Errorf("room %q: delete metadata: %w", name, err)
		}
	}
	for _, name := range [][]byte{bucketState, bucketStateTime} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	if err := tx.Bucket(bucketMeta).Put(keyVersion, encodeKey(formatVersion)); err != nil {
		return fmt.Errorf("version: %w", err)
	}
	m.phase = phaseDone
	return nil
}
