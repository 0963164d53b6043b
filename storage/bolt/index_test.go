package bolt

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

// model is what a log should hold: every appended event by offset and
// each room's trim watermark (the room's events up to it are gone).
type model struct {
	byOffset []*broker.Event // index 0 unused
	trimmed  map[string]uint64
}

func (m *model) add(evs []*broker.Event) {
	for _, e := range evs {
		if e.Offset == uint64(len(m.byOffset)) {
			m.byOffset = append(m.byOffset, e)
		}
	}
}

// read is what Read(rooms, after, limit) must return.
func (m *model) read(rooms []string, after uint64, limit int) ([]*broker.Event, uint64) {
	head := uint64(len(m.byOffset) - 1)
	var out []*broker.Event
	for off := after + 1; off <= head; off++ {
		e := m.byOffset[off]
		if e.Offset > m.trimmed[e.Room] && slices.Contains(rooms, e.Room) {
			out = append(out, e)
			if len(out) == limit {
				return out, off
			}
		}
	}
	return out, head
}

// rooms is what Rooms must return.
func (m *model) rooms() []broker.RoomInfo {
	info := map[string]*broker.RoomInfo{}
	for _, e := range m.byOffset[1:] {
		if info[e.Room] == nil {
			info[e.Room] = &broker.RoomInfo{Name: e.Room}
		}
		info[e.Room].Head = e.Offset
	}
	for _, e := range m.byOffset[1:] {
		ri := info[e.Room]
		ri.Trimmed = m.trimmed[e.Room]
		if e.Offset > ri.Trimmed {
			ri.Count++
			if ri.First == 0 {
				ri.First = e.Offset
			}
		}
	}
	var out []broker.RoomInfo
	for _, ri := range info {
		out = append(out, *ri)
	}
	slices.SortFunc(out, func(a, b broker.RoomInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func sameEvents(got, want []*broker.Event) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got offsets %v, want %v", eventOffsets(got), eventOffsets(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Offset != w.Offset || g.ID != w.ID || g.Room != w.Room || g.Type != w.Type ||
			!bytes.Equal(g.Data, w.Data) || !g.Time.Equal(w.Time) || g.From != w.From {
			return fmt.Sprintf("event %d = %+v, want %+v", i, g, w)
		}
	}
	return ""
}

func eventOffsets(evs []*broker.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Offset
	}
	return out
}

// checkAgainst compares every Read, ReadBefore and Rooms of l with m.
func checkAgainst(t *testing.T, l *Log, m *model, what string) {
	t.Helper()
	ctx := context.Background()
	head := uint64(len(m.byOffset) - 1)
	for _, rooms := range [][]string{{"a"}, {"b"}, {"a", "c"}, {"a", "b", "c", "new"}} {
		for after := uint64(0); after <= head+1; after++ {
			for _, limit := range []int{1, 2, 5, 100} {
				res, err := l.Read(ctx, rooms, after, limit)
				if err != nil {
					t.Fatalf("%s: Read(%v, %d, %d): %v", what, rooms, after, limit, err)
				}
				want, through := m.read(rooms, after, limit)
				if d := sameEvents(res.Events, want); d != "" || res.Through != through {
					t.Fatalf("%s: Read(%v, %d, %d) through %d (want %d): %s",
						what, rooms, after, limit, res.Through, through, d)
				}
			}
		}
	}
	for _, room := range []string{"a", "b", "c"} {
		for before := uint64(0); before <= head+1; before++ {
			got, err := l.ReadBefore(ctx, room, before, 3)
			if err != nil {
				t.Fatalf("%s: ReadBefore(%s, %d): %v", what, room, before, err)
			}
			end := before
			if end == 0 {
				end = head + 1
			}
			all, _ := m.read([]string{room}, 0, 1<<30)
			var want []*broker.Event
			for _, e := range all {
				if e.Offset < end {
					want = append(want, e)
				}
			}
			want = want[max(0, len(want)-3):]
			if d := sameEvents(got, want); d != "" {
				t.Fatalf("%s: ReadBefore(%s, %d): %s", what, room, before, d)
			}
		}
	}
	rooms, err := l.Rooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := m.rooms(); !slices.Equal(rooms, want) {
		t.Fatalf("%s: Rooms() = %+v\nwant %+v", what, rooms, want)
	}
}

// TestReadAcrossIndexBoundary moves the indexed offset one event at a
// time through a log of three interleaved rooms and checks, at every
// position, every Read (one room and merged rooms, every after and
// several limits), ReadBefore and Rooms: reads straddle the boundary
// between the index and memory.
func TestReadAcrossIndexBoundary(t *testing.T) {
	ctx := context.Background()
	l, _ := openTemp(t, lazyOptions)
	m := &model{byOffset: []*broker.Event{nil}, trimmed: map[string]uint64{}}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, rooms := range []string{"a", "ab", "abc", "c", "bb", "a", "cab", "b", "aaa", "c"} {
		for j, r := range rooms { // one Append each: the checkpointer applies whole Appends
			evs, err := l.Append(ctx, entries(1, string(r), t0.Add(time.Duration(10*i+j)*time.Second)))
			if err != nil {
				t.Fatal(err)
			}
			m.add(evs)
		}
	}
	for k := uint64(0); ; k++ {
		if l.pend.unindexed() != l.Head()-k {
			t.Fatalf("indexed %d events, want %d", l.Head()-l.pend.unindexed(), k)
		}
		checkAgainst(t, l, m, fmt.Sprintf("indexed through %d", k))
		if err := l.check(); err != nil {
			t.Fatal(err)
		}
		more, err := l.applyOne()
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			if k != l.Head() {
				t.Fatalf("applying ended after %d events, head %d", k, l.Head())
			}
			break
		}
	}
	checkAgainst(t, l, m, "all indexed")
}

// TestTrimWithUnindexedSuffix trims a log whose index lags: Trim indexes
// first, then removes from the index and the events together; events
// appended after it are read from memory next to the trimmed index.
func TestTrimWithUnindexedSuffix(t *testing.T) {
	ctx := context.Background()
	l, path := openTemp(t, lazyOptions)
	m := &model{byOffset: []*broker.Event{nil}, trimmed: map[string]uint64{}}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	appendRooms := func(at time.Time, rooms ...string) {
		t.Helper()
		for _, r := range rooms { // one Append each: the checkpointer applies whole Appends
			evs, err := l.Append(ctx, entries(1, r, at))
			if err != nil {
				t.Fatal(err)
			}
			m.add(evs)
		}
	}
	appendRooms(t0, "a", "b", "a", "c", "a", "b")               // 1..6
	if _, err := l.applyOldest(math.MaxUint64, 2); err != nil { // apply 1 2, the rest in memory
		t.Fatal(err)
	}
	appendRooms(t0.Add(time.Hour), "a", "b", "c") // 7 8 9

	// Keep 2 per room: a loses 1 3, b loses 2; c keeps 4 9.
	n, err := l.Trim(ctx, broker.Retention{MaxCount: 2}, t0)
	if err != nil || n != 3 {
		t.Fatalf("Trim = %d, %v; want 3 removed", n, err)
	}
	if u := l.pend.unindexed(); u != 0 {
		t.Fatalf("%d events unindexed after Trim", u)
	}
	m.trimmed["a"], m.trimmed["b"] = 3, 2
	checkAgainst(t, l, m, "after trim by count")

	// Age: everything of t0 goes; c's only young event is 9.
	appendRooms(t0.Add(2*time.Hour), "c", "a") // 10 11, unindexed
	n, err = l.Trim(ctx, broker.Retention{MaxAge: time.Minute}, t0.Add(time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("Trim = %d, %v; want 3 removed (4 5 6)", n, err)
	}
	m.trimmed["a"], m.trimmed["b"], m.trimmed["c"] = 5, 6, 4
	checkAgainst(t, l, m, "after trim by age")

	// Empty room b completely, then give it an unindexed event: Rooms
	// shows the new event as its first next to the old watermark.
	n, err = l.Trim(ctx, broker.Retention{MaxAge: time.Minute}, t0.Add(3*time.Hour))
	if err != nil || n != 5 {
		t.Fatalf("Trim = %d, %v; want 5 removed (7..11)", n, err)
	}
	m.trimmed["a"], m.trimmed["b"], m.trimmed["c"] = 11, 8, 10
	appendRooms(t0.Add(4*time.Hour), "b") // 12, unindexed
	checkAgainst(t, l, m, "emptied rooms with an unindexed event")
	if err := l.check(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := Open(path, lazyOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if u := l2.pend.unindexed(); u != 0 {
		t.Errorf("%d events unindexed after Close", u)
	}
	if err := l2.check(); err != nil {
		t.Fatal(err)
	}
	checkAgainst(t, l2, m, "reopened")
}

// TestIndexerRuns checks that the indexer indexes by itself, after
// IndexBatch events or after IndexInterval, and that Close indexes the
// rest.
func TestIndexerRuns(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		events int
	}{
		{"batch", Options{IndexBatch: 10, IndexInterval: time.Hour}, 10},
		{"interval", Options{IndexBatch: 1 << 30, IndexInterval: 5 * time.Millisecond}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := openTemp(t, tc.opts)
			if _, err := l.Append(context.Background(), entries(tc.events, "a", time.Now())); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for l.pend.unindexed() > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%d events still unindexed", l.pend.unindexed())
				}
				time.Sleep(time.Millisecond)
			}
			if err := l.check(); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("close", func(t *testing.T) {
		l, path := openTemp(t, lazyOptions)
		if _, err := l.Append(context.Background(), entries(5, "a", time.Now())); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		onFile(t, path, true, func(tx *bbolt.Tx) error {
			indexed, err := readIndexed(tx)
			if err == nil && indexed != 5 {
				err = fmt.Errorf("indexed %d after Close, want 5", indexed)
			}
			return err
		})
	})
}

// TestOpenOldFormat checks that a file of format version 1 is refused
// with an error that says so.
func TestOpenOldFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		for _, name := range [][]byte{bucketRooms, bucketRoomMeta, bucketIdem, bucketIdemTime} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		for _, kv := range [][2][]byte{{keyEpoch, []byte("E")}, {keyVersion, encodeKey(1)}, {keyHead, encodeKey(0)}} {
			if err := meta.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	l, err := Open(path, Options{})
	if err == nil {
		l.Close()
		t.Fatal("Open of a format 1 file succeeded")
	}
	if !strings.Contains(err.Error(), "format version 1") {
		t.Errorf("Open error %q does not name the format version", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Errorf("file damaged by the failed Open: %v %v", fi, err)
	}
}

// applyOne applies the oldest journaled Append and reports whether there
// was one.
func (l *Log) applyOne() (bool, error) {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	return l.applyOldest(math.MaxUint64, 1)
}
