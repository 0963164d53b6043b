package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
)

// opener returns a brokertest opener for a new file in t.TempDir() that
// also checks the file's bookkeeping each time the log is reopened.
func opener(opts Options) func(t *testing.T) func() broker.Log {
	return checkedOpener(opts, func(l *Log) broker.Log { return l })
}

// checkedOpener returns an opener of a new file in t.TempDir(), as the
// type a brokertest suite takes, that checks the file's bookkeeping each
// time it is opened.
func checkedOpener[T any](opts Options, as func(*Log) T) func(t *testing.T) func() T {
	return func(t *testing.T) func() T {
		path := filepath.Join(t.TempDir(), "rtbroker.db")
		return func() T {
			t.Helper()
			l, err := Open(path, opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if err := l.check(); err != nil {
				t.Fatalf("reopened file is inconsistent: %v", err)
			}
			return as(l)
		}
	}
}

func TestLog(t *testing.T) {
	brokertest.TestLog(t, opener(Options{}))
}

// TestLogSmallTrimBatch runs the suite with Trim committing every two
// deletions, so that every trim spans transactions.
func TestLogSmallTrimBatch(t *testing.T) {
	brokertest.TestLog(t, opener(Options{TrimBatch: 2}))
}

// TestLogTinyBatches runs the suite with an indexer that runs every
// millisecond and after 3 events, in transactions of 12 events, and Trim
// committing every two deletions: reads meet every boundary between the
// index and memory, while the indexer runs.
func TestLogTinyBatches(t *testing.T) {
	brokertest.TestLog(t, opener(Options{IndexBatch: 3, IndexInterval: time.Millisecond, TrimBatch: 2}))
}

// TestLogUnindexed runs the suite with an indexer that never runs by
// itself: everything is read from memory until Trim or Close indexes it.
func TestLogUnindexed(t *testing.T) {
	brokertest.TestLog(t, opener(lazyOptions))
}

// lazyOptions keep every event unindexed until Trim or Close.
var lazyOptions = Options{IndexBatch: 1 << 30, IndexInterval: time.Hour}

func openTemp(t *testing.T, opts Options) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "rtbroker.db")
	l, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, path
}

func entries(n int, room string, t0 time.Time) []broker.Entry {
	out := make([]broker.Entry, n)
	for i := range out {
		out[i] = broker.Entry{
			ID:   ulid.Make(),
			Room: room,
			Type: "msg",
			Data: fmt.Appendf(nil, `{"i":%d}`, i),
			Time: t0.Add(time.Duration(i) * time.Millisecond),
			From: "tester",
		}
	}
	return out
}

func TestTrimInBatchesKeepsBookkeeping(t *testing.T) {
	ctx := context.Background()
	l, _ := openTemp(t, Options{TrimBatch: 7})
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, room := range []string{"a", "b", "c"} {
		batch := entries(50, room, t0)
		for i := range batch {
			batch[i].IdempotencyKey = fmt.Sprintf("%s-%d", room, i)
		}
		if _, err := l.Append(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	n, err := l.Trim(ctx, broker.Retention{MaxCount: 10, Idempotency: time.Millisecond}, t0.Add(time.Hour))
	if err != nil || n != 120 {
		t.Fatalf("Trim = %d, %v; want 120 removed", n, err)
	}
	if err := l.check(); err != nil {
		t.Fatal(err)
	}
	err = l.db.View(func(tx *bbolt.Tx) error {
		if k := tx.Bucket(bucketIdem).Stats().KeyN; k != 0 {
			return fmt.Errorf("%d idempotency keys left", k)
		}
		if k := tx.Bucket(bucketIdemTime).Stats().KeyN; k != 0 {
			return fmt.Errorf("%d index keys left", k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTrimCanceled(t *testing.T) {
	l, _ := openTemp(t, Options{TrimBatch: 3})
	if _, err := l.Append(context.Background(), entries(20, "a", time.Now())); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err := l.Trim(ctx, broker.Retention{MaxCount: 1}, time.Now())
	if !errors.Is(err, context.Canceled) || n != 0 {
		t.Fatalf("Trim = %d, %v; want 0, context.Canceled", n, err)
	}
}

func TestLongIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	l, _ := openTemp(t, Options{})
	long := string(bytes.Repeat([]byte("k"), 100_000)) // beyond bbolt's key limit
	for _, key := range []string{long, long[:maxPlainKey], long[:maxPlainKey+1]} {
		e1, e2 := entries(1, "a", time.Now())[0], entries(1, "a", time.Now())[0]
		e1.IdempotencyKey, e2.IdempotencyKey = key, key
		first, err := l.Append(ctx, []broker.Entry{e1})
		if err != nil {
			t.Fatalf("key of %d bytes: %v", len(key), err)
		}
		again, err := l.Append(ctx, []broker.Entry{e2})
		if err != nil {
			t.Fatalf("key of %d bytes, retry: %v", len(key), err)
		}
		if again[0].Offset != first[0].Offset || again[0].ID != e1.ID {
			t.Errorf("key of %d bytes: retry got offset %d id %s, want %d %s",
				len(key), again[0].Offset, again[0].ID, first[0].Offset, e1.ID)
		}
	}
}

func TestBackup(t *testing.T) {
	ctx := context.Background()
	l, _ := openTemp(t, Options{})
	var want []*broker.Event
	for _, room := range []string{"a", "b"} {
		evs, err := l.Append(ctx, entries(300, room, time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, evs...)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(backup)
	if err != nil {
		t.Fatal(err)
	}
	n, err := l.Backup(f)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Size() != n {
		t.Fatalf("backup file: %v, size %v; Backup reported %d bytes", err, fi, n)
	}
	// The live log keeps going and is not in the copy.
	if _, err := l.Append(ctx, entries(1, "a", time.Now())); err != nil {
		t.Fatal(err)
	}

	b, err := Open(backup, Options{})
	if err != nil {
		t.Fatalf("Open backup: %v", err)
	}
	defer b.Close()
	if err := b.check(); err != nil {
		t.Fatal(err)
	}
	if b.Epoch() != l.Epoch() || b.Head() != uint64(len(want)) {
		t.Errorf("backup epoch %q head %d, want %q %d", b.Epoch(), b.Head(), l.Epoch(), len(want))
	}
	res, err := b.Read(ctx, []string{"a", "b"}, 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != len(want) {
		t.Fatalf("backup has %d events, want %d", len(res.Events), len(want))
	}
	for i, e := range res.Events {
		w := want[i]
		if e.Offset != w.Offset || e.ID != w.ID || e.Room != w.Room || !bytes.Equal(e.Data, w.Data) || !e.Time.Equal(w.Time) {
			t.Fatalf("backup event %d = %+v, want %+v", i, e, w)
		}
	}
	l.Close()
	if _, err := l.Backup(&bytes.Buffer{}); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Backup after Close: %v, want ErrClosed", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bbolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("x")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	notBolt := filepath.Join(dir, "text.db")
	if err := os.WriteFile(notBolt, bytes.Repeat([]byte("not a database\n"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(dir, "locked.db")
	l, err := Open(locked, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	tests := []struct {
		name string
		path string
		opts Options
	}{
		{"empty path", "", Options{}},
		{"other application's bbolt file", foreign, Options{}},
		{"not a bbolt file", notBolt, Options{}},
		{"locked by an open log", locked, Options{Timeout: 50 * time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Open(tc.path, tc.opts)
			if err == nil {
				l.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
}

// check verifies the bookkeeping of the file against its events: the
// stored head is the indexed offset and the highest offset; every event up
// to it is in its room's index, and every later one up to Head() in memory
// (pending's tail, in order); each room's metadata matches its index;
// every idempotency key has its index entry.
func (l *Log) check() error {
	l.cmu.Lock() // the checkpointer holds still
	defer l.cmu.Unlock()
	l.wmu.Lock() // pending holds still
	defer l.wmu.Unlock()
	v := l.pend.view(nil, true)
	return l.db.View(func(tx *bbolt.Tx) error {
		head, err := readHead(tx)
		if err != nil {
			return err
		}
		indexed, err := readIndexed(tx)
		if err != nil {
			return err
		}
		if head != indexed || indexed != v.indexed || v.head != l.Head() || uint64(len(v.tail)) != v.head-v.indexed {
			return fmt.Errorf("stored head %d indexed %d; Head() %d; in memory head %d indexed %d, %d events",
				head, indexed, l.Head(), v.head, v.indexed, len(v.tail))
		}
		for i, e := range v.tail {
			if e.Offset != v.indexed+1+uint64(i) {
				return fmt.Errorf("event %d of the tail has offset %d", i, e.Offset)
			}
		}
		if err := checkEvents(tx, &v, head); err != nil {
			return err
		}
		maxOff, err := checkRoomIndex(tx, indexed)
		if err != nil {
			return err
		}
		for _, offs := range v.rooms {
			maxOff = max(maxOff, offs[len(offs)-1])
		}
		// The head is the highest room head, or above it when the last
		// events belonged to internal rooms that the migration from
		// format 2 removed (tests without a migration check the head
		// against the events they appended).
		if maxOff > v.head {
			return fmt.Errorf("head %d, highest room head %d", v.head, maxOff)
		}
		if err := checkIdem(tx); err != nil {
			return err
		}
		return checkState(tx)
	})
}

// checkEvents checks that every event of the file decodes, lies at or
// below head (the indexed offset) and is in its room's index, and that
// pending's room offsets are its tail's events.
func checkEvents(tx *bbolt.Tx, v *pendingView, head uint64) error {
	rooms := tx.Bucket(bucketRooms)
	err := tx.Bucket(bucketEvents).ForEach(func(k, val []byte) error {
		off, err := decodeKey(k)
		if err != nil {
			return err
		}
		var e broker.Event
		if err := decodeRecord(val, &e); err != nil {
			return fmt.Errorf("event %d: %w", off, err)
		}
		if off > head {
			return fmt.Errorf("event %d beyond the head %d", off, head)
		}
		if b := rooms.Bucket([]byte(e.Room)); b == nil || b.Get(k) == nil {
			return fmt.Errorf("event %d of room %q is not in the room index", off, e.Room)
		}
		return nil
	})
	if err != nil {
		return err
	}
	pend := map[string][]uint64{}
	for _, e := range v.tail {
		pend[e.Room] = append(pend[e.Room], e.Offset)
	}
	if len(pend) != len(v.rooms) {
		return fmt.Errorf("%d rooms with events in the tail, %d with offsets in memory", len(pend), len(v.rooms))
	}
	for room, offs := range pend {
		if got := v.rooms[room]; !slices.Equal(got, offs) {
			return fmt.Errorf("room %q: events in the tail %v, offsets in memory %v", room, offs, got)
		}
	}
	return nil
}

// checkRoomIndex checks each room's index and metadata against the events
// and returns the highest room head.
func checkRoomIndex(tx *bbolt.Tx, indexed uint64) (uint64, error) {
	events := tx.Bucket(bucketEvents)
	var maxOff uint64
	nMeta := 0
	err := tx.Bucket(bucketRoomMeta).ForEach(func(name, val []byte) error {
		nMeta++
		m, err := decodeRoomMeta(val)
		if err != nil {
			return err
		}
		b := tx.Bucket(bucketRooms).Bucket(name)
		if b == nil {
			return fmt.Errorf("room %q: no index", name)
		}
		var got roomMeta
		got.head, got.trimmed = m.head, m.trimmed
		err = b.ForEach(func(k, _ []byte) error {
			off, err := decodeKey(k)
			if err != nil {
				return err
			}
			if got.first == 0 {
				got.first = off
			}
			if off <= m.trimmed || off > m.head || off > indexed {
				return fmt.Errorf("room %q: offset %d outside (%d, min(%d, %d)]", name, off, m.trimmed, m.head, indexed)
			}
			room, err := recordRoom(events.Get(k))
			if err != nil || string(room) != string(name) {
				return fmt.Errorf("room %q: indexed offset %d is an event of room %q (%v)", name, off, room, err)
			}
			got.count++
			return nil
		})
		if err != nil {
			return err
		}
		if got != m {
			return fmt.Errorf("room %q: metadata %+v, index says %+v", name, m, got)
		}
		maxOff = max(maxOff, m.head)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n := tx.Bucket(bucketRooms).Stats().BucketN - 1; n != nMeta {
		return 0, fmt.Errorf("%d room indexes, %d room metadata", n, nMeta)
	}
	return maxOff, nil
}

// checkIdem checks that the idempotency keys and their expiry index match.
func checkIdem(tx *bbolt.Tx) error {
	idem := tx.Bucket(bucketIdem)
	n := 0
	err := tx.Bucket(bucketIdemTime).ForEach(func(k, _ []byte) error {
		n++
		_, ik, err := decodeTimeKey(k)
		if err != nil {
			return err
		}
		if idem.Get(ik) == nil {
			return fmt.Errorf("index entry %x without key", k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if k := idem.Stats().KeyN; k != n {
		return fmt.Errorf("%d idempotency keys, %d index entries", k, n)
	}
	return nil
}

// TestCursor runs the broker's cursor stress test (rooms added and removed
// at random positions while publishers and retention run) on bbolt.
func TestCursor(t *testing.T) {
	brokertest.TestCursor(t, opener(Options{}))
}

// checkState checks that the state records and their expiry index match.
func checkState(tx *bbolt.Tx) error {
	state := tx.Bucket(bucketState)
	expiring := 0
	err := state.ForEach(func(k, v []byte) error {
		if err := broker.ValidateStateKey(string(k)); err != nil {
			return err
		}
		code, _, err := decodeStateValue(v)
		if err != nil {
			return err
		}
		if code != 0 {
			expiring++
			if tx.Bucket(bucketStateTime).Get(appendStateTimeKey(nil, code, k)) == nil {
				return fmt.Errorf("state key %q: no expiry index entry", k)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n := tx.Bucket(bucketStateTime).Stats().KeyN; n != expiring {
		return fmt.Errorf("%d expiring state records, %d expiry index entries", expiring, n)
	}
	return nil
}
