package brokertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rtbroker/rtbroker/broker"
)

// TestLog runs the broker.Log conformance suite as subtests of t.
//
// open is called once per subtest, with that subtest's t, and must create a
// fresh, empty store (for a file-backed log, a path in t.TempDir()). It
// returns an opener: each call of the opener returns a Log on that store;
// after the previous Log was closed, calling it again reopens the same data.
// The opener may fail the test with t.Fatal; it is only called from the
// subtest's goroutine. Logs the suite opens are closed by t.Cleanup.
//
// Besides the interface comments, the suite fixes these choices: event Time
// round-trips to the nanosecond (compared with time.Equal); idempotency
// keys are scoped to their room; a limit <= 0 is an error wrapping
// broker.ErrInvalid; an empty batch commits nothing; age retention removes
// events whose Time is before now-MaxAge; closing twice fails with
// broker.ErrClosed.
func TestLog(t *testing.T, open func(t *testing.T) func() broker.Log) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, open func() broker.Log)
	}{
		{"EmptyLog", testEmpty},
		{"AppendAssignsConsecutiveOffsets", testAppendOffsets},
		{"AppendRoundTripsFields", testRoundTrip},
		{"AppendEmptyBatch", testAppendEmpty},
		{"AppendCanceledContextCommitsNothing", testAppendCanceled},
		{"AppendRejectsEmptyRoom", testAppendEmptyRoom},
		{"CallerOwnsBuffers", testOwnership},
		{"ReadOneRoomFromOffset", testReadOneRoom},
		{"ReadMergesRoomsInOffsetOrder", testReadMerge},
		{"ReadLimitAndThrough", testReadThrough},
		{"ReadPagesWithoutGapOrDuplicate", testReadPaging},
		{"ReadInvalidLimit", testInvalidLimit},
		{"ReadBeforePagesBackwards", testReadBefore},
		{"RoomsInfo", testRooms},
		{"IdempotencyRepeatInLaterBatch", testIdempotencyLaterBatch},
		{"IdempotencyRepeatInSameBatch", testIdempotencySameBatch},
		{"IdempotencyKeysIndependent", testIdempotencyKeysIndependent},
		{"IdempotencyKeysScopedToRoom", testIdempotencyScopedToRoom},
		{"IdempotencyEmptyKeyNeverDeduplicates", testIdempotencyEmptyKey},
		{"IdempotencyOriginalSurvivesTrim", testIdempotencyAfterTrim},
		{"IdempotencyKeysExpireOnTrim", testIdempotencyExpiry},
		{"TrimByMaxCount", testTrimCount},
		{"TrimByMaxAge", testTrimAge},
		{"TrimWholeRoom", testTrimWholeRoom},
		{"TrimmedWatermarkAcrossRooms", testTrimAcrossRooms},
		{"TrimByRoomPatternRules", testTrimRules},
		{"TrimRoomBefore", testTrimBefore},
		{"CountAfter", testCountAfter},
		{"Epoch", testEpoch},
		{"ReopenKeepsEverything", testReopen},
		{"Closed", testClosed},
		{"ConcurrentAppends", testConcurrentAppends},
		{"ConcurrentReadersFollowAppends", testConcurrentFollow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
	t.Run("EpochDiffersBetweenStores", func(t *testing.T) {
		a, b := openLog(t, open(t)), openLog(t, open(t))
		if a.Epoch() == b.Epoch() {
			t.Errorf("two stores share the epoch %q", a.Epoch())
		}
	})
}

// base is the time of the first generated entry. Its nanoseconds make sure
// a log that drops precision is caught.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// gen generates entries with distinct IDs, data and increasing times.
type gen struct{ n int }

func (g *gen) entry(room string) broker.Entry {
	g.n++
	return broker.Entry{
		ID:   ulid.Make(),
		Room: room,
		Type: "msg",
		Data: fmt.Appendf(nil, `{"n":%d}`, g.n),
		Time: base.Add(time.Duration(g.n) * time.Millisecond),
		From: "user-" + room,
	}
}

func (g *gen) entries(rooms ...string) []broker.Entry {
	out := make([]broker.Entry, len(rooms))
	for i, r := range rooms {
		out[i] = g.entry(r)
	}
	return out
}

// openLog calls open and closes the log when the test ends.
func openLog(t *testing.T, open func() broker.Log) broker.Log {
	t.Helper()
	l := open()
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func mustAppend(t *testing.T, l broker.Log, entries ...broker.Entry) []*broker.Event {
	t.Helper()
	evs, err := l.Append(context.Background(), entries)
	if err != nil {
		t.Fatalf("Append(%d entries): %v", len(entries), err)
	}
	if len(evs) != len(entries) {
		t.Fatalf("Append(%d entries) returned %d events", len(entries), len(evs))
	}
	return evs
}

func mustRead(t *testing.T, l broker.Log, rooms []string, after uint64, limit int) broker.ReadResult {
	t.Helper()
	res, err := l.Read(context.Background(), rooms, after, limit)
	if err != nil {
		t.Fatalf("Read(%q, after %d, limit %d): %v", rooms, after, limit, err)
	}
	return res
}

func mustRooms(t *testing.T, l broker.Log) []broker.RoomInfo {
	t.Helper()
	rooms, err := l.Rooms(context.Background())
	if err != nil {
		t.Fatalf("Rooms: %v", err)
	}
	return rooms
}

func mustTrim(t *testing.T, l broker.Log, r broker.Retention, now time.Time) int {
	t.Helper()
	n, err := l.Trim(context.Background(), r, now)
	if err != nil {
		t.Fatalf("Trim(%+v, %v): %v", r, now, err)
	}
	return n
}

// readAll reads every retained event of rooms after `after`, in pages.
func readAll(t *testing.T, l broker.Log, rooms []string, after uint64) []*broker.Event {
	t.Helper()
	var out []*broker.Event
	for {
		res := mustRead(t, l, rooms, after, 100)
		out = append(out, res.Events...)
		if len(res.Events) == 0 {
			return out
		}
		after = res.Through
	}
}

// wantEvent is the event an entry becomes at offset off.
func wantEvent(off uint64, e broker.Entry) *broker.Event {
	return &broker.Event{Offset: off, ID: e.ID, Room: e.Room, Type: e.Type, Data: e.Data, Time: e.Time, From: e.From}
}

// diffEvent describes how got differs from want, "" if it does not.
func diffEvent(got, want *broker.Event) string {
	if got == nil || want == nil {
		if got != want {
			return fmt.Sprintf("got %v, want %v", got, want)
		}
		return ""
	}
	var d []string
	if got.Offset != want.Offset {
		d = append(d, fmt.Sprintf("Offset %d, want %d", got.Offset, want.Offset))
	}
	if got.ID != want.ID {
		d = append(d, fmt.Sprintf("ID %s, want %s", got.ID, want.ID))
	}
	if got.Room != want.Room {
		d = append(d, fmt.Sprintf("Room %q, want %q", got.Room, want.Room))
	}
	if got.Type != want.Type {
		d = append(d, fmt.Sprintf("Type %q, want %q", got.Type, want.Type))
	}
	if !bytes.Equal(got.Data, want.Data) {
		d = append(d, fmt.Sprintf("Data %q, want %q", got.Data, want.Data))
	}
	if !got.Time.Equal(want.Time) {
		d = append(d, fmt.Sprintf("Time %v, want %v", got.Time, want.Time))
	}
	if got.From != want.From {
		d = append(d, fmt.Sprintf("From %q, want %q", got.From, want.From))
	}
	return strings.Join(d, "; ")
}

func checkEvents(t *testing.T, what string, got, want []*broker.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d events %v, want %d %v", what, len(got), offsets(got), len(want), offsets(want))
	}
	for i := range got {
		if d := diffEvent(got[i], want[i]); d != "" {
			t.Fatalf("%s: event %d: %s", what, i, d)
		}
	}
}

func offsets(evs []*broker.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Offset
	}
	return out
}

// inRooms returns the events of evs in one of rooms with offset > after.
func inRooms(evs []*broker.Event, after uint64, rooms ...string) []*broker.Event {
	var out []*broker.Event
	for _, e := range evs {
		for _, r := range rooms {
			if e.Room == r && e.Offset > after {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

func testEmpty(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	if l.Epoch() == "" {
		t.Error("Epoch() is empty")
	}
	if h := l.Head(); h != 0 {
		t.Errorf("Head() = %d, want 0", h)
	}
	res := mustRead(t, l, []string{"a", "b"}, 0, 10)
	if len(res.Events) != 0 || res.Through != 0 {
		t.Errorf("Read = %d events through %d, want 0 through 0", len(res.Events), res.Through)
	}
	if rooms := mustRooms(t, l); len(rooms) != 0 {
		t.Errorf("Rooms() = %v, want none", rooms)
	}
	evs, err := l.ReadBefore(context.Background(), "a", 0, 10)
	if err != nil || len(evs) != 0 {
		t.Errorf("ReadBefore = %v, %v; want no events", evs, err)
	}
	if n := mustTrim(t, l, broker.Retention{MaxAge: time.Second, MaxCount: 1, Idempotency: time.Second}, base); n != 0 {
		t.Errorf("Trim removed %d events from an empty log", n)
	}
}

func testAppendOffsets(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	var g gen
	batches := [][]broker.Entry{
		g.entries("a"),
		g.entries("a", "b", "a"),
		g.entries("c", "b"),
		g.entries("a"),
	}
	var want uint64
	for i, batch := range batches {
		if h := l.Head(); h != want {
			t.Fatalf("before batch %d: Head() = %d, want %d", i, h, want)
		}
		evs := mustAppend(t, l, batch...)
		for j, ev := range evs {
			want++
			if d := diffEvent(ev, wantEvent(want, batch[j])); d != "" {
				t.Errorf("batch %d entry %d: %s", i, j, d)
			}
		}
		if h := l.Head(); h != want {
			t.Fatalf("after batch %d: Head() = %d, want %d", i, h, want)
		}
	}
}

func testRoundTrip(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	big := make([]byte, 0, 70_000)
	big = append(big, '"')
	for len(big) < 69_000 {
		big = append(big, "0123456789abcdef"...)
	}
	big = append(big, '"')
	tests := []struct {
		name  string
		entry broker.Entry
	}{
		{"object", broker.Entry{Type: "chat:message", Data: []byte(`{"text":"hi","n":[1,2]}`), From: "alice"}},
		{"unicode", broker.Entry{Type: "t", Data: []byte(`"héllo ✓ \u2028"`), From: "bob@example.com"}},
		{"no data", broker.Entry{Type: "t"}},
		{"null", broker.Entry{Type: "t", Data: []byte(`null`)}},
		{"large data", broker.Entry{Type: "blob", Data: big, From: "x"}},
		{"long names", broker.Entry{Type: strings.Repeat("t", broker.MaxTypeLen), Data: []byte(`1`), From: strings.Repeat("f", 300)}},
		{"zone and nanoseconds", broker.Entry{Type: "t", Data: []byte(`2`), Time: time.Date(2031, 12, 31, 23, 59, 59, 999999999, time.FixedZone("X", 5*3600))}},
		{"unix epoch", broker.Entry{Type: "t", Data: []byte(`3`), Time: time.Unix(0, 0)}},
	}
	var want []*broker.Event
	for i, tc := range tests {
		e := tc.entry
		e.ID = ulid.Make()
		e.Room = "room/" + strings.ReplaceAll(tc.name, " ", "-")
		if e.Time.IsZero() {
			e.Time = base.Add(time.Duration(i) * time.Nanosecond)
		}
		evs := mustAppend(t, l, e)
		w := wantEvent(uint64(i+1), e)
		if d := diffEvent(evs[0], w); d != "" {
			t.Errorf("%s: Append returned %s", tc.name, d)
		}
		want = append(want, w)
	}
	for i, tc := range tests {
		res := mustRead(t, l, []string{want[i].Room}, 0, 10)
		checkEvents(t, tc.name+": Read", res.Events, want[i:i+1])
	}
	l.Close()
	l = openLog(t, open)
	for i, tc := range tests {
		res := mustRead(t, l, []string{want[i].Room}, 0, 10)
		checkEvents(t, tc.name+": Read after reopen", res.Events, want[i:i+1])
	}
}

func testAppendEmpty(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	var g gen
	mustAppend(t, l, g.entry("a"))
	for _, entries := range [][]broker.Entry{nil, {}} {
		evs, err := l.Append(context.Background(), entries)
		if err != nil || len(evs) != 0 {
			t.Errorf("Append(%v) = %v, %v; want no events, no error", entries, evs, err)
		}
	}
	if h := l.Head(); h != 1 {
		t.Errorf("Head() = %d after empty batches, want 1", h)
	}
	evs := mustAppend(t, l, g.entry("a"))
	if evs[0].Offset != 2 {
		t.Errorf("next offset = %d, want 2", evs[0].Offset)
	}
}

func testAppendCanceled(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	var g gen
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	evs, err := l.Append(ctx, g.entries("a", "b"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with canceled context = %v, %v; want context.Canceled", evs, err)
	}
	if h := l.Head(); h != 0 {
		t.Errorf("Head() = %d, want 0", h)
	}
	if res := mustRead(t, l, []string{"a", "b"}, 0, 10); len(res.Events) != 0 {
		t.Errorf("Read found %v, want nothing", offsets(res.Events))
	}
	if rooms := mustRooms(t, l); len(rooms) != 0 {
		t.Errorf("Rooms() = %v, want none", rooms)
	}
	if evs := mustAppend(t, l, g.entry("a")); evs[0].Offset != 1 {
		t.Errorf("first committed offset = %d, want 1", evs[0].Offset)
	}
}

func testAppendEmptyRoom(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	var g gen
	batch := g.entries("a", "")
	if _, err := l.Append(context.Background(), batch); err == nil {
		t.Fatal("Append with an empty room succeeded")
	}
	if h := l.Head(); h != 0 {
		t.Errorf("Head() = %d after failed Append, want 0", h)
	}
	if res := mustRead(t, l, []string{"a"}, 0, 10); len(res.Events) != 0 {
		t.Errorf("failed batch left events %v", offsets(res.Events))
	}
}

func testOwnership(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	var g gen
	e := g.entry("a")
	orig := string(e.Data)
	evs := mustAppend(t, l, e)
	e.Data[0] = 'X' // the caller reuses its buffer
	evs[0].Data[1] = 'Y'
	res := mustRead(t, l, []string{"a"}, 0, 10)
	if got := string(res.Events[0].Data); got != orig {
		t.Fatalf("stored data changed to %q by caller writes, want %q", got, orig)
	}
	res.Events[0].Data[0] = 'Z'
	if got := string(mustRead(t, l, []string{"a"}, 0, 10).Events[0].Data); got != orig {
		t.Fatalf("stored data changed to %q by writing a read result, want %q", got, orig)
	}
}

func testInvalidLimit(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	var g gen
	mustAppend(t, l, g.entries("a", "a")...)
	for _, limit := range []int{0, -1} {
		if _, err := l.Read(context.Background(), []string{"a"}, 0, limit); !errors.Is(err, broker.ErrInvalid) {
			t.Errorf("Read(limit %d) error = %v, want ErrInvalid", limit, err)
		}
		if _, err := l.ReadBefore(context.Background(), "a", 0, limit); !errors.Is(err, broker.ErrInvalid) {
			t.Errorf("ReadBefore(limit %d) error = %v, want ErrInvalid", limit, err)
		}
	}
}

func testEpoch(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	epoch := l.Epoch()
	if epoch == "" {
		t.Fatal("Epoch() is empty")
	}
	var g gen
	mustAppend(t, l, g.entry("a"))
	if got := l.Epoch(); got != epoch {
		t.Errorf("Epoch() changed from %q to %q after Append", epoch, got)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := openLog(t, open).Epoch(); got != epoch {
		t.Errorf("Epoch() after reopen = %q, want %q", got, epoch)
	}
}

func testClosed(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	var g gen
	mustAppend(t, l, g.entry("a"))
	epoch := l.Epoch()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	_, errAppend := l.Append(ctx, g.entries("a"))
	_, errRead := l.Read(ctx, []string{"a"}, 0, 10)
	_, errBefore := l.ReadBefore(ctx, "a", 0, 10)
	_, errRooms := l.Rooms(ctx)
	_, errTrim := l.Trim(ctx, broker.Retention{MaxCount: 1}, base)
	errClose := l.Close()
	for name, err := range map[string]error{
		"Append": errAppend, "Read": errRead, "ReadBefore": errBefore,
		"Rooms": errRooms, "Trim": errTrim, "Close again": errClose,
	} {
		if !errors.Is(err, broker.ErrClosed) {
			t.Errorf("%s after Close: error %v, want ErrClosed", name, err)
		}
	}
	if got := l.Epoch(); got != epoch {
		t.Errorf("Epoch() after Close = %q, want %q", got, epoch)
	}
	_ = l.Head() // must not panic
	if h := openLog(t, open).Head(); h != 1 {
		t.Errorf("reopened Head() = %d, want 1: an Append after Close committed", h)
	}
}

func testConcurrentAppends(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	const writers, batches = 8, 20
	var mu sync.Mutex
	var all []*broker.Event
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			var g gen
			for i := range batches {
				batch := make([]broker.Entry, 1+i%3)
				for j := range batch {
					batch[j] = g.entry(fmt.Sprintf("r%d", (w+j)%4))
				}
				evs, err := l.Append(context.Background(), batch)
				if err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %w", w, i, err)
					return
				}
				for j := 1; j < len(evs); j++ {
					if evs[j].Offset != evs[j-1].Offset+1 {
						errs <- fmt.Errorf("writer %d batch %d: offsets %v not consecutive", w, i, offsets(evs))
						return
					}
				}
				mu.Lock()
				all = append(all, evs...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	byOffset := make([]*broker.Event, len(all)+1)
	for _, e := range all {
		if e.Offset == 0 || e.Offset > uint64(len(all)) {
			t.Fatalf("offset %d outside 1..%d", e.Offset, len(all))
		}
		if byOffset[e.Offset] != nil {
			t.Fatalf("offset %d assigned twice", e.Offset)
		}
		byOffset[e.Offset] = e
	}
	if h := l.Head(); h != uint64(len(all)) {
		t.Fatalf("Head() = %d, want %d", h, len(all))
	}
	checkEvents(t, "read back", readAll(t, l, []string{"r0", "r1", "r2", "r3"}, 0), byOffset[1:])
}

// testConcurrentFollow checks that readers following the log with Read and
// Through while writers append see every event of their room exactly once,
// in order.
func testConcurrentFollow(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	const writers, batches, readers = 3, 25, 4
	done := make(chan struct{})
	var writersWG, readersWG sync.WaitGroup
	errs := make(chan error, writers+readers)
	seen := make([][]*broker.Event, readers)
	for r := range readers {
		readersWG.Go(func() {
			room := fmt.Sprintf("r%d", r%2)
			var after uint64
			for {
				finished := false
				select {
				case <-done:
					finished = true
				default:
				}
				res, err := l.Read(context.Background(), []string{room}, after, 1+r*3)
				if err != nil {
					errs <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
				for _, e := range res.Events {
					if e.Offset <= after || e.Room != room {
						errs <- fmt.Errorf("reader %d after %d: got offset %d of room %q", r, after, e.Offset, e.Room)
						return
					}
					after = e.Offset
				}
				if res.Through < after {
					errs <- fmt.Errorf("reader %d: Through %d below last event %d", r, res.Through, after)
					return
				}
				seen[r] = append(seen[r], res.Events...)
				after = res.Through
				if finished && len(res.Events) == 0 {
					return
				}
				if len(res.Events) == 0 {
					time.Sleep(100 * time.Microsecond)
				}
			}
		})
	}
	for w := range writers {
		writersWG.Go(func() {
			var g gen
			for i := range batches {
				if _, err := l.Append(context.Background(), g.entries("r0", "r1", fmt.Sprintf("r%d", (w+i)%2))); err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
			}
		})
	}
	writersWG.Wait()
	close(done)
	readersWG.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for r := range readers {
		room := fmt.Sprintf("r%d", r%2)
		checkEvents(t, fmt.Sprintf("reader %d of %s", r, room), seen[r], readAll(t, l, []string{room}, 0))
	}
}
