package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rtbroker/rtbroker/broker"
)

// levelCounter is a slog.Handler that counts records by level.
type levelCounter struct {
	mu sync.Mutex
	n  map[slog.Level]int
}

func (c *levelCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *levelCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[r.Level]++
	return nil
}
func (c *levelCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *levelCounter) WithGroup(string) slog.Handler      { return c }
func (c *levelCounter) count(l slog.Level) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[l]
}

// fillDisk injects a full disk under the bbolt file at path, which this
// process has open read-write: the file descriptor is pointed at
// /dev/full (every write fails with ENOSPC) while the memory map keeps
// reading the real file. The returned func puts the real file back.
func fillDisk(t *testing.T, path string) (restore func()) {
	t.Helper()
	fd := -1
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("fault injection needs /proc: %v", err)
	}
	for _, e := range ents {
		if target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); target == path {
			fmt.Sscan(e.Name(), &fd)
		}
	}
	if fd < 0 {
		t.Fatalf("no open file descriptor of %s", path)
	}
	saved, err := syscall.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("fault injection needs /dev/full: %v", err)
	}
	if err := syscall.Dup3(int(full.Fd()), fd, 0); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := syscall.Dup3(saved, fd, 0); err != nil {
			t.Fatal(err)
		}
		syscall.Close(saved)
		full.Close()
	}
}

// TestDiskFull: while the disk is full, appends fail with an error
// wrapping broker.ErrInsufficientStorage, nothing of them is stored, the
// health says why, and the log says so once (not once per append); when
// space returns appends succeed again by themselves and the health clears.
func TestDiskFull(t *testing.T) {
	lc := &levelCounter{n: map[slog.Level]int{}}
	l, path := openTemp(t, Options{Logger: slog.New(lc)})
	ctx := context.Background()
	t0 := time.Now()
	// Free pages for the appends to come, so that they write into the
	// file as it is: bbolt's fstat before growing a file would see
	// /dev/full, where a real full disk fails the write.
	for range 10 {
		if _, err := l.Append(ctx, entries(100, "r", t0)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Trim(ctx, broker.Retention{MaxCount: 10}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := l.Append(ctx, entries(1, "r", t0)); err != nil {
			t.Fatal(err)
		}
	}
	restoreFile, restoreJournal := fillDisk(t, path), fillDisk(t, journalPath(path))
	restore := func() { restoreFile(); restoreJournal() }
	for i := range 50 {
		_, err := l.Append(ctx, entries(1, "r", t0))
		if !errors.Is(err, broker.ErrInsufficientStorage) {
			restore()
			t.Fatalf("append %d on a full disk: %v, want ErrInsufficientStorage", i, err)
		}
	}
	h := l.Health()
	restore()
	if !h.Degraded() || !strings.Contains(h.Full, "no space left on device") {
		t.Errorf("health on a full disk = %+v, want Full naming ENOSPC", h)
	}
	if n := lc.count(slog.LevelError); n != 1 {
		t.Errorf("%d ERROR lines for 50 refused appends, want 1", n)
	}
	evs, err := l.Append(ctx, entries(1, "r", t0))
	if err != nil {
		t.Fatalf("append after space returned: %v", err)
	}
	if evs[0].Offset != 1006 {
		t.Errorf("first offset after the full disk = %d, want 1006 (nothing of the refused appends stored)", evs[0].Offset)
	}
	if err := l.checkpoint(nil); err != nil { // the health clears when bbolt takes a write again
		t.Fatal(err)
	}
	if h := l.Health(); h.Degraded() {
		t.Errorf("health after space returned = %+v, want healthy", h)
	}
	if n := lc.count(slog.LevelInfo); n != 1 {
		t.Errorf("%d INFO lines, want 1 (writes succeed again)", n)
	}
}

// TestFullLogRateLimit: a full disk logs one ERROR, then at most one WARN
// per FullLogInterval however many writes fail.
func TestFullLogRateLimit(t *testing.T) {
	lc := &levelCounter{n: map[slog.Level]int{}}
	h := newHealth(slog.New(lc))
	now := time.Unix(1000, 0)
	h.now = func() time.Time { return now }
	enospc := &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
	for i := range 300 { // 300 failures over 5 minutes
		now = now.Add(time.Second)
		if err := h.wrote(enospc); !errors.Is(err, broker.ErrInsufficientStorage) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if e, w := lc.count(slog.LevelError), lc.count(slog.LevelWarn); e != 1 || w != 4 {
		t.Errorf("ERROR %d, WARN %d lines for 300 failures over 5 minutes, want 1 and 4", e, w)
	}
	for _, tc := range []struct {
		name string
		err  error
		full bool
	}{
		{"ENOSPC", enospc, true},
		{"EDQUOT", &os.PathError{Op: "write", Err: syscall.EDQUOT}, true},
		{"EROFS", &os.PathError{Op: "open", Err: syscall.EROFS}, true},
		{"wrapped with %s by bbolt", fmt.Errorf("file resize error: %s", syscall.ENOSPC), true},
		{"another error", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isStorageFull(tc.err); got != tc.full {
				t.Errorf("isStorageFull(%v) = %v, want %v", tc.err, got, tc.full)
			}
		})
	}
}

// damagedFixture writes a log of n events over three rooms, closes it and
// returns its path, the events, and a copy with random bytes written over
// the pages that hold the events whose data names the offsets in hit.
func damagedFixture(t *testing.T, n int, hit []int) (orig, damaged string, evs []*broker.Event) {
	t.Helper()
	dir := t.TempDir()
	orig = filepath.Join(dir, "orig.db")
	l, err := Open(orig, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 200)
	for i := 0; i < n; i += 100 {
		batch := make([]broker.Entry, 100)
		for j := range batch {
			batch[j] = broker.Entry{ID: ulid.Make(), Room: fmt.Sprintf("room-%d", (i+j)%3), Type: "msg",
				Data: fmt.Appendf(nil, `{"mark":"ev-%06d","pad":%q}`, i+j+1, pad), Time: time.Now(), From: "u"}
		}
		out, err := l.Append(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, out...)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, off := range hit {
		at := bytes.Index(raw, fmt.Appendf(nil, "ev-%06d", off))
		if at < 0 {
			t.Fatalf("event %d not found in the file", off)
		}
		page := at / DefaultPageSize * DefaultPageSize
		for i := page; i < page+DefaultPageSize; i++ {
			raw[i] = byte(rng.Uint32())
		}
	}
	damaged = filepath.Join(dir, "damaged.db")
	if err := os.WriteFile(damaged, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return orig, damaged, evs
}

// TestDamagedFile: a read that hits a damaged page fails with a
// CorruptionError naming the offsets it covered (never a panic), the
// health lists it, it is logged at ERROR once however often it is hit, and
// events on other pages stay readable.
func TestDamagedFile(t *testing.T) {
	_, damaged, evs := damagedFixture(t, 3000, []int{1500})
	lc := &levelCounter{n: map[slog.Level]int{}}
	l, err := Open(damaged, Options{Logger: slog.New(lc)})
	if err != nil {
		t.Fatalf("open the damaged copy: %v", err)
	}
	defer l.Close()
	ctx := context.Background()
	rooms := []string{"room-0", "room-1", "room-2"}
	for range 3 {
		_, err = l.Read(ctx, rooms, 1000, 1000)
		var ce *broker.CorruptionError
		if !errors.As(err, &ce) || ce.From != 1001 || ce.To != 3000 {
			t.Fatalf("read across the damaged page: %v, want a CorruptionError from 1001 to 3000", err)
		}
	}
	if n := lc.count(slog.LevelError); n != 1 {
		t.Errorf("%d ERROR lines for 3 reads of one damaged page, want 1", n)
	}
	if h := l.Health(); len(h.Damaged) != 1 || !strings.Contains(h.Damaged[0], "1001 to 3000") {
		t.Errorf("health = %+v, want one damage naming 1001 to 3000", h)
	}
	for _, tc := range []struct {
		name  string
		after uint64
	}{{"before the damage", 0}, {"after the damage", 2000}} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := l.Read(ctx, rooms, tc.after, 500)
			if err != nil {
				t.Fatalf("read after %d: %v", tc.after, err)
			}
			for i, ev := range res.Events {
				if want := evs[int(tc.after)+i]; ev.Offset != want.Offset || ev.ID != want.ID || !bytes.Equal(ev.Data, want.Data) {
					t.Fatalf("event %d: got offset %d id %s, want %d %s", i, ev.Offset, ev.ID, want.Offset, want.ID)
				}
			}
			if len(res.Events) != 500 {
				t.Errorf("read %d events, want 500", len(res.Events))
			}
		})
	}
}

// TestCheckAndSalvage: Check finds nothing wrong with a sound file and
// reports a damaged copy; Salvage copies every readable event of the
// damaged copy with its offset, id and data into a new log of a new epoch
// that passes Check, and reports the lost offsets, which cover exactly the
// events it could not copy.
func TestCheckAndSalvage(t *testing.T) {
	orig, damaged, evs := damagedFixture(t, 3000, []int{700, 1500, 2400})
	for _, tc := range []struct {
		name string
		path string
		ok   bool
	}{{"sound", orig, true}, {"damaged", damaged, false}} {
		t.Run("check "+tc.name, func(t *testing.T) {
			rep, err := Check(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() != tc.ok {
				t.Errorf("Check OK = %v, want %v; problems: %q", rep.OK(), tc.ok, rep.Problems)
			}
			if tc.ok && (rep.Events != 3000 || rep.Head != 3000 || rep.Rooms != 3) {
				t.Errorf("report %+v, want 3000 events, head 3000, 3 rooms", rep)
			}
		})
	}
	out := filepath.Join(t.TempDir(), "new", "rtbroker.db")
	rep, err := Salvage(damaged, out)
	if err != nil {
		t.Fatalf("Salvage: %v", err)
	}
	if rep.NewEpoch == rep.OldEpoch || rep.OldEpoch == "" || rep.OldHead != 3000 {
		t.Errorf("epochs %q → %q, old head %d: want a new epoch and head 3000", rep.OldEpoch, rep.NewEpoch, rep.OldHead)
	}
	if len(rep.Lost) != 3 {
		t.Errorf("lost ranges %v, want 3 (one per damaged page)", rep.Lost)
	}
	lost := func(off uint64) bool {
		for _, r := range rep.Lost {
			if off >= r.From && off <= r.To {
				return true
			}
		}
		return false
	}
	if c, err := Check(out); err != nil || !c.OK() {
		t.Fatalf("Check of the recovered log: %v %q", err, c.Problems)
	}
	l, err := Open(out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res, err := l.Read(context.Background(), []string{"room-0", "room-1", "room-2"}, 0, 5000)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]*broker.Event{}
	for _, ev := range res.Events {
		got[ev.Offset] = ev
	}
	if len(got) != rep.Events || rep.Events < 2800 {
		t.Errorf("read %d events back, report says %d (want most of 3000)", len(got), rep.Events)
	}
	for _, want := range evs {
		ev, ok := got[want.Offset]
		switch {
		case ok == lost(want.Offset):
			t.Fatalf("event %d: copied %v, in a lost range %v", want.Offset, ok, lost(want.Offset))
		case ok && (ev.ID != want.ID || ev.Room != want.Room || ev.Type != want.Type || !bytes.Equal(ev.Data, want.Data) ||
			!ev.Time.Equal(want.Time) || ev.From != want.From):
			t.Fatalf("event %d differs: %+v, want %+v", want.Offset, ev, want)
		}
	}
	if l.Epoch() != rep.NewEpoch || l.Head() != 3000 && !lost(3000) {
		t.Errorf("recovered log epoch %s head %d, report %s", l.Epoch(), l.Head(), rep.NewEpoch)
	}
	_, _ = io.Discard.Write(nil)
}
