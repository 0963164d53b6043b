package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

// testdata/format2.db is a real file of format 2, written by the format 2
// code (commit bd377dc) with 4 KiB pages and an indexer that ran only in
// Trim: 94 events over the user rooms chat and lobby and the internal rooms
// _sio.sessions and _x.test, some with idempotency keys; a Trim with
// MaxCount 15 after offset 70 indexed and trimmed the first part; the
// events after it are unindexed (as after a crash), and the last one is
// internal. It was copied with Backup while open. testdata/format2.json
// holds what a migration must keep, read from the same log: epoch, head,
// the user rooms and their events, and idempotency keys of both kinds.
type format2Fixture struct {
	Epoch        string              `json:"epoch"`
	Head         uint64              `json:"head"`
	Indexed      uint64              `json:"indexed"`
	Rooms        []broker.RoomInfo   `json:"rooms"`
	Events       json.RawMessage     `json:"events"`
	UserKeys     map[string][]string `json:"userKeys"`
	InternalKeys map[string][]string `json:"internalKeys"`
}

// copyFormat2 copies the fixture into t.TempDir() and returns its path and
// what it holds.
func copyFormat2(t *testing.T) (string, format2Fixture) {
	t.Helper()
	raw, err := os.ReadFile("testdata/format2.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rtbroker.db")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	var want format2Fixture
	b, err := os.ReadFile("testdata/format2.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if want.Indexed == 0 || want.Indexed >= want.Head {
		t.Fatalf("fixture has indexed %d, head %d: no unindexed suffix", want.Indexed, want.Head)
	}
	return path, want
}

// fileVersion reads the format version of the bbolt file at path.
func fileVersion(t *testing.T, path string) uint64 {
	t.Helper()
	var v uint64
	onFile(t, path, true, func(tx *bbolt.Tx) error { v = decodeUint(tx.Bucket(bucketMeta).Get(keyVersion)); return nil })
	return v
}

// onFile runs fn in a transaction (read-only or not) of the bbolt file at
// path, opened for it and closed after.
func onFile(t *testing.T, path string, readOnly bool, fn func(*bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if readOnly {
		err = db.View(fn)
	} else {
		err = db.Update(fn)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// logBuffer returns a logger writing text lines to the returned buffer.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

func TestMigrateFormat2(t *testing.T) {
	path, want := copyFormat2(t)
	logger, logs := logBuffer()
	l, err := Open(path, Options{Logger: logger, IndexBatch: 1 << 30, IndexInterval: time.Hour})
	if err != nil {
		t.Fatalf("Open of a format 2 file: %v", err)
	}
	if n := strings.Count(logs.String(), "migrated"); n != 1 || !strings.Contains(logs.String(), "level=INFO") {
		t.Errorf("want one INFO line about the migration, got:\n%s", logs)
	}
	t.Logf("%s", logs)
	checkMigrated(t, l, want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if v := fileVersion(t, path); v != formatVersion {
		t.Fatalf("version %d after migration, want %d", v, formatVersion)
	}
	logger, logs = logBuffer()
	l, err = Open(path, Options{Logger: logger})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer l.Close()
	if logs.Len() != 0 {
		t.Errorf("reopen logged %q: it migrated again", logs)
	}
	if err := l.check(); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateResumes interrupts the migration after every possible number
// of its transactions (each committed, as a crash would leave them; a
// crash inside a transaction leaves the previous commit) and checks that
// the next Open finishes it with the same result.
func TestMigrateResumes(t *testing.T) {
	const batch = 3
	for steps := 1; ; steps++ {
		path, want := copyFormat2(t)
		db, err := bbolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := newMigration(db)
		if err != nil || m == nil {
			t.Fatalf("newMigration = %v, %v", m, err)
		}
		done := false
		for i := 0; i < steps && !done; i++ {
			if done, err = m.step(batch); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if v := fileVersion(t, path); done != (v == formatVersion) {
			t.Fatalf("after %d steps (done %v) the version is %d", steps, done, v)
		}
		t.Run(fmt.Sprintf("after %d steps", steps), func(t *testing.T) {
			l, err := Open(path, Options{TrimBatch: batch, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatalf("Open after an interrupted migration: %v", err)
			}
			defer l.Close()
			checkMigrated(t, l, want)
		})
		if done {
			if steps < 8 {
				t.Fatalf("the migration took %d transactions of %d: the test interrupts too little", steps, batch)
			}
			return
		}
	}
}

// checkMigrated checks a Log opened on the migrated fixture: the user
// events, rooms, head, epoch and idempotency keys are as before; nothing
// of an internal room is left; new events and records work.
func checkMigrated(t *testing.T, l *Log, want format2Fixture) {
	t.Helper()
	ctx := context.Background()
	if err := l.check(); err != nil {
		t.Fatalf("migrated file: %v", err)
	}
	if l.Epoch() != want.Epoch || l.Head() != want.Head {
		t.Fatalf("epoch %s head %d, want %s %d", l.Epoch(), l.Head(), want.Epoch, want.Head)
	}
	rooms, err := l.Rooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, exp := fmt.Sprint(rooms), fmt.Sprint(want.Rooms); got != exp {
		t.Fatalf("Rooms = %s, want %s", got, exp)
	}
	res, err := l.Read(ctx, []string{"chat", "lobby", "_sio.sessions", "_x.test"}, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(res.Events)
	var exp bytes.Buffer
	_ = json.Compact(&exp, want.Events)
	if !bytes.Equal(got, exp.Bytes()) {
		t.Fatalf("events after migration:\n%s\nwant\n%s", got, exp.Bytes())
	}
	checkNoInternal(t, l)
	// User keys still deduplicate; internal ones are gone.
	for room, keys := range want.UserKeys {
		for _, k := range keys {
			e := broker.Entry{ID: ulid.Make(), Room: room, Type: "msg", Data: []byte(`{}`), Time: time.Now(), IdempotencyKey: k}
			evs, err := l.Append(ctx, []broker.Entry{e})
			if err != nil {
				t.Fatal(err)
			}
			if evs[0].ID == e.ID || evs[0].Offset > want.Head {
				t.Fatalf("user key %s/%s: a new event %d, want the original", room, k, evs[0].Offset)
			}
		}
	}
	if l.Head() != want.Head {
		t.Fatalf("head %d after replays, want %d", l.Head(), want.Head)
	}
	next := want.Head + 1
	for room, keys := range want.InternalKeys {
		for _, k := range keys {
			e := broker.Entry{ID: ulid.Make(), Room: room, Type: "msg", Data: []byte(`{}`), Time: time.Now(), IdempotencyKey: k}
			evs, err := l.AppendWith(ctx, []broker.Entry{e}, []broker.Record{{Key: "sio/" + k, Value: []byte(k)}})
			if err != nil {
				t.Fatal(err)
			}
			if evs[0].ID != e.ID || evs[0].Offset != next {
				t.Fatalf("internal key %s/%s: event %d (ID %s), want a new event %d", room, k, evs[0].Offset, evs[0].ID, next)
			}
			next++
		}
	}
	if r, err := l.Get(ctx, "sio/s0"); err != nil || string(r.Value) != "s0" {
		t.Fatalf("Get after migration = %q, %v", r.Value, err)
	}
	if err := l.check(); err != nil {
		t.Fatal(err)
	}
}

// checkNoInternal checks that no bucket holds anything of an internal
// room.
func checkNoInternal(t *testing.T, l *Log) {
	t.Helper()
	err := l.db.View(func(tx *bbolt.Tx) error {
		err := tx.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
			room, err := recordRoom(v)
			if err != nil || broker.IsInternalRoom(string(room)) {
				return fmt.Errorf("event %x of room %q (%v)", k, room, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, b := range [][]byte{bucketRooms, bucketRoomMeta} {
			if k, _ := tx.Bucket(b).Cursor().Seek([]byte(broker.InternalPrefix)); k != nil && broker.IsInternalRoom(string(k)) {
				return fmt.Errorf("bucket %s has %q", b, k)
			}
		}
		return tx.Bucket(bucketIdem).ForEach(func(k, _ []byte) error {
			room, _, err := cutBytes(k, "room")
			if err != nil || broker.IsInternalRoom(string(room)) {
				return fmt.Errorf("idempotency key %q (%v)", k, err)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpenNewerFormat checks that a file of a format newer than this
// build's is refused with a message that says so, and left as it was.
func TestOpenNewerFormat(t *testing.T) {
	l, path := openTemp(t, Options{})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	onFile(t, path, false, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyVersion, encodeKey(formatVersion+1))
	})
	before, _ := os.ReadFile(path)
	l, err := Open(path, Options{})
	if err == nil {
		l.Close()
		t.Fatal("Open of a newer format succeeded")
	}
	if !strings.Contains(err.Error(), "newer than this build") || !strings.Contains(err.Error(), fmt.Sprint(formatVersion+1)) {
		t.Errorf("Open error %q does not say the format is newer", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the refused file was changed")
	}
}

// TestOpenFormat3: a file of format 3 (before the journal: no journal
// keys) opens, keeps its events, and is format 4 from then on, so that a
// build that reads only format 3 refuses it instead of ignoring its
// journal.
func TestOpenFormat3(t *testing.T) {
	ctx := context.Background()
	l, path := openTemp(t, Options{})
	if _, err := l.Append(ctx, entries(3, "a", time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	onFile(t, path, false, func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		for _, k := range [][]byte{keyJSeq, keyJPos} {
			if err := meta.Delete(k); err != nil {
				return err
			}
		}
		return meta.Put(keyVersion, encodeKey(formatNoJournal))
	})
	if err := os.Remove(journalPath(path)); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, entries(2, "a", time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if v := fileVersion(t, path); v != formatVersion {
		t.Fatalf("version %d after Open, want %d", v, formatVersion)
	}
	l, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if res, err := l.Read(ctx, []string{"a"}, 0, 10); err != nil || len(res.Events) != 5 {
		t.Fatalf("read %d events, %v; want 5", len(res.Events), err)
	}
}
