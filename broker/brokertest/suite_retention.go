package brokertest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
)

// keyed returns e with idempotency key k.
func keyed(e broker.Entry, k string) broker.Entry {
	e.IdempotencyKey = k
	return e
}

func testIdempotencyLaterBatch(t *testing.T, open func() broker.Log) {
	var g gen
	l := openLog(t, open)
	first := mustAppend(t, l, keyed(g.entry("a"), "k1"), g.entry("a"))
	retry := keyed(g.entry("a"), "k1")
	evs := mustAppend(t, l, retry, g.entry("a"))
	if d := diffEvent(evs[0], first[0]); d != "" {
		t.Errorf("retried entry: %s; want the original event", d)
	}
	if evs[0].ID == retry.ID {
		t.Error("retried entry has the retry's ID, want the original's")
	}
	if evs[1].Offset != 3 {
		t.Errorf("entry after the retry got offset %d, want 3", evs[1].Offset)
	}
	if h := l.Head(); h != 3 {
		t.Errorf("Head() = %d, want 3", h)
	}
	if got := readAll(t, l, []string{"a"}, 0); len(got) != 3 {
		t.Errorf("room has %d events, want 3", len(got))
	}
}

func testIdempotencySameBatch(t *testing.T, open func() broker.Log) {
	var g gen
	l := openLog(t, open)
	e1, e2, e3 := keyed(g.entry("a"), "k"), keyed(g.entry("a"), "k"), keyed(g.entry("a"), "other")
	evs := mustAppend(t, l, e1, g.entry("b"), e2, e3)
	if d := diffEvent(evs[0], wantEvent(1, e1)); d != "" {
		t.Errorf("first: %s", d)
	}
	if d := diffEvent(evs[2], wantEvent(1, e1)); d != "" {
		t.Errorf("repeat in batch: %s; want the first entry's event", d)
	}
	if d := diffEvent(evs[3], wantEvent(3, e3)); d != "" {
		t.Errorf("different key: %s", d)
	}
	if h := l.Head(); h != 3 {
		t.Errorf("Head() = %d, want 3", h)
	}
}

func testIdempotencyKeysIndependent(t *testing.T, open func() broker.Log) {
	var g gen
	l := openLog(t, open)
	evs := mustAppend(t, l, keyed(g.entry("a"), "k1"), keyed(g.entry("a"), "k2"), keyed(g.entry("a"), "K1"))
	if got := offsets(evs); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Errorf("offsets = %v, want [1 2 3]", got)
	}
}

func testIdempotencyScopedToRoom(t *testing.T, open func() broker.Log) {
	var g gen
	l := openLog(t, open)
	evs := mustAppend(t, l, keyed(g.entry("a"), "k"), keyed(g.entry("b"), "k"))
	if got := offsets(evs); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("offsets = %v, want [1 2]", got)
	}
}

func testIdempotencyEmptyKey(t *testing.T, open func() broker.Log) {
	var g gen
	l := openLog(t, open)
	e := g.entry("a")
	evs := mustAppend(t, l, e, e)
	if got := offsets(evs); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("offsets = %v, want [1 2]", got)
	}
}

func testIdempotencyAfterTrim(t *testing.T, open func() broker.Log) {
	var g gen
	l := openLog(t, open)
	e := keyed(g.entry("a"), "k")
	first := mustAppend(t, l, e, g.entry("a"))
	mustTrim(t, l, broker.Retention{MaxCount: 1}, base)
	evs := mustAppend(t, l, keyed(g.entry("a"), "k"))
	if d := diffEvent(evs[0], first[0]); d != "" {
		t.Errorf("retry after trim: %s; want the original event", d)
	}
	if h := l.Head(); h != 2 {
		t.Errorf("Head() = %d, want 2", h)
	}
}

func testIdempotencyExpiry(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	var g gen
	now := base.Add(10 * time.Hour)
	old, young := keyed(g.entry("a"), "old"), keyed(g.entry("a"), "young")
	old.Time = now.Add(-2 * time.Hour)
	young.Time = now.Add(-30 * time.Minute)
	mustAppend(t, l, old, young)

	if n := mustTrim(t, l, broker.Retention{}, now.Add(1000*time.Hour)); n != 0 {
		t.Errorf("Trim with zero retention removed %d events", n)
	}
	evs := mustAppend(t, l, keyed(g.entry("a"), "old"))
	if evs[0].Offset != 1 {
		t.Fatalf("with Idempotency 0 a key was forgotten: retry got offset %d, want 1", evs[0].Offset)
	}

	if n := mustTrim(t, l, broker.Retention{Idempotency: time.Hour}, now); n != 0 {
		t.Errorf("Trim of idempotency keys removed %d events", n)
	}
	retryOld, retryYoung := keyed(g.entry("a"), "old"), keyed(g.entry("a"), "young")
	evs = mustAppend(t, l, retryOld, retryYoung)
	if d := diffEvent(evs[0], wantEvent(3, retryOld)); d != "" {
		t.Errorf("expired key: %s; want a new event", d)
	}
	if d := diffEvent(evs[1], wantEvent(2, young)); d != "" {
		t.Errorf("live key: %s; want the original event", d)
	}
}

// checkTrimmed checks that Read(rooms, after) reports Trimmed == through,
// returns only retained events above after in order, and that reading
// from through reports nothing trimmed.
func checkTrimmed(t *testing.T, l broker.Log, rooms []string, after, through uint64) {
	t.Helper()
	res, err := l.Read(context.Background(), rooms, after, 10)
	if err != nil {
		t.Fatalf("Read(%q, after %d): %v", rooms, after, err)
	}
	if res.Trimmed != through {
		t.Errorf("Read(%q, after %d).Trimmed = %d, want %d", rooms, after, res.Trimmed, through)
	}
	for i, ev := range res.Events {
		if ev.Offset <= after || i > 0 && ev.Offset <= res.Events[i-1].Offset {
			t.Errorf("Read(%q, after %d) = %v: not ascending above after", rooms, after, offsets(res.Events))
			break
		}
	}
	again, err := l.Read(context.Background(), rooms, through, 10)
	if err != nil || again.Trimmed != 0 {
		t.Errorf("Read(%q, after %d) = Trimmed %d, %v; want nothing trimmed", rooms, through, again.Trimmed, err)
	}
}

func testTrimCount(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	all := fill(t, l, 6) // a: 1 3 5 7 9 11, b: 2 4 6 8 10 12
	var g gen
	mustAppend(t, l, g.entry("c"))                                        // 13
	if n := mustTrim(t, l, broker.Retention{MaxCount: 4}, base); n != 4 { // a: 1 3, b: 2 4
		t.Fatalf("Trim removed %d events, want 4", n)
	}
	want := []broker.RoomInfo{
		{Name: "a", Head: 11, First: 5, Count: 4, Trimmed: 3},
		{Name: "b", Head: 12, First: 6, Count: 4, Trimmed: 4},
		{Name: "c", Head: 13, First: 13, Count: 1},
	}
	if got := mustRooms(t, l); !slices.Equal(got, want) {
		t.Errorf("Rooms() = %+v\nwant %+v", got, want)
	}
	for _, after := range []uint64{0, 1, 2} {
		checkTrimmed(t, l, []string{"a"}, after, 3)
	}
	checkEvents(t, "a from the watermark", readAll(t, l, []string{"a"}, 3), inRooms(all, 3, "a"))
	checkEvents(t, "a from before the watermark of b", readAll(t, l, []string{"a"}, 3), inRooms(all, 0, "a")[2:])
	checkEvents(t, "c is untouched", readAll(t, l, []string{"c"}, 0), readAll(t, l, []string{"c"}, 12))
	before, err := l.ReadBefore(context.Background(), "b", 0, 100)
	if err != nil {
		t.Fatalf("ReadBefore: %v", err)
	}
	checkEvents(t, "ReadBefore b", before, inRooms(all, 4, "b"))

	if n := mustTrim(t, l, broker.Retention{MaxCount: 4}, base); n != 0 {
		t.Errorf("second Trim removed %d events, want 0", n)
	}
	if n := mustTrim(t, l, broker.Retention{MaxCount: 1}, base); n != 6 {
		t.Errorf("Trim to 1 removed %d events, want 6", n)
	}
	checkTrimmed(t, l, []string{"b", "c"}, 4, 10)
	if got := offsets(mustRead(t, l, []string{"a", "b", "c"}, 10, 10).Events); !slices.Equal(got, []uint64{11, 12, 13}) {
		t.Errorf("after the second trim: offsets %v, want [11 12 13]", got)
	}
}

func testTrimAge(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	var g gen
	var batch []broker.Entry
	for i := range 10 {
		e := g.entry("a")
		e.Time = base.Add(time.Duration(i) * time.Second)
		b := g.entry("b")
		b.Time = base.Add(time.Hour) // young at every now below
		batch = append(batch, e, b)
	}
	all := mustAppend(t, l, batch...) // a: 1 3 ... 19, b: 2 4 ... 20
	tests := []struct {
		name        string
		now         time.Time
		maxAge      time.Duration
		wantRemoved int
		wantFirstA  uint64
	}{
		{"nothing old enough", base.Add(time.Hour), 2 * time.Hour, 0, 1},
		{"cutoff equal to an event time keeps it", base.Add(5 * time.Second), 2 * time.Second, 3, 7},
		{"again, same cutoff", base.Add(5 * time.Second), 2 * time.Second, 0, 7},
		{"later", base.Add(8500 * time.Millisecond), time.Second, 5, 17},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n := mustTrim(t, l, broker.Retention{MaxAge: tc.maxAge}, tc.now); n != tc.wantRemoved {
				t.Errorf("Trim removed %d events, want %d", n, tc.wantRemoved)
			}
			rooms := mustRooms(t, l)
			if len(rooms) != 2 || rooms[0].First != tc.wantFirstA {
				t.Fatalf("Rooms() = %+v, want room a first at %d", rooms, tc.wantFirstA)
			}
			checkEvents(t, "room a", readAll(t, l, []string{"a"}, rooms[0].Trimmed), inRooms(all, tc.wantFirstA-1, "a"))
			if tc.wantFirstA > 1 {
				checkTrimmed(t, l, []string{"a"}, 0, tc.wantFirstA-2)
			}
		})
	}
}

func testTrimWholeRoom(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	fill(t, l, 3) // a: 1 3 5, b: 2 4 6
	var g gen
	late := g.entry("b")
	late.Time = base.Add(time.Hour)
	mustAppend(t, l, late) // 7
	if n := mustTrim(t, l, broker.Retention{MaxAge: time.Minute}, base.Add(time.Hour)); n != 6 {
		t.Fatalf("Trim removed %d events, want 6", n)
	}
	want := []broker.RoomInfo{
		{Name: "a", Head: 5, First: 0, Count: 0, Trimmed: 5},
		{Name: "b", Head: 7, First: 7, Count: 1, Trimmed: 6},
	}
	if got := mustRooms(t, l); !slices.Equal(got, want) {
		t.Errorf("Rooms() = %+v\nwant %+v", got, want)
	}
	checkTrimmed(t, l, []string{"a"}, 4, 5)
	res := mustRead(t, l, []string{"a"}, 5, 10)
	if len(res.Events) != 0 || res.Through != 7 {
		t.Errorf("Read(a, 5) = %v through %d, want nothing through 7", offsets(res.Events), res.Through)
	}
	if evs, err := l.ReadBefore(context.Background(), "a", 0, 10); err != nil || len(evs) != 0 {
		t.Errorf("ReadBefore(a) = %v, %v; want nothing", offsets(evs), err)
	}
	evs := mustAppend(t, l, g.entry("a"))
	if evs[0].Offset != 8 {
		t.Fatalf("append to an emptied room got offset %d, want 8", evs[0].Offset)
	}
	want[0] = broker.RoomInfo{Name: "a", Head: 8, First: 8, Count: 1, Trimmed: 5}
	if got := mustRooms(t, l); !slices.Equal(got, want) {
		t.Errorf("Rooms() after append = %+v\nwant %+v", got, want)
	}
}

func testTrimAcrossRooms(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	var g gen
	mustAppend(t, l, g.entries("a", "a", "a", "a", "a")...) // 1..5
	mustAppend(t, l, g.entries("b", "b", "b", "b", "b")...) // 6..10
	if n := mustTrim(t, l, broker.Retention{MaxCount: 2}, base); n != 6 {
		t.Fatalf("Trim removed %d events, want 6", n) // a through 3, b through 8
	}
	checkTrimmed(t, l, []string{"a", "b"}, 0, 8)
	checkTrimmed(t, l, []string{"a", "b"}, 3, 8)
	checkTrimmed(t, l, []string{"b", "unknown"}, 7, 8)
	if got := offsets(mustRead(t, l, []string{"a"}, 3, 10).Events); !slices.Equal(got, []uint64{4, 5}) {
		t.Errorf("Read(a, 3) = %v, want [4 5]", got)
	}
	if got := offsets(mustRead(t, l, []string{"a", "b"}, 8, 10).Events); !slices.Equal(got, []uint64{9, 10}) {
		t.Errorf("Read(a b, 8) = %v, want [9 10]", got)
	}
}

func testReopen(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	var g gen
	all := mustAppend(t, l, keyed(g.entry("a"), "k"), g.entry("b"), g.entry("a"), g.entry("a"), g.entry("b"))
	mustTrim(t, l, broker.Retention{MaxCount: 2}, base) // a through 1
	epoch, rooms := l.Epoch(), mustRooms(t, l)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	l = openLog(t, open)
	if l.Epoch() != epoch {
		t.Errorf("Epoch() = %q after reopen, want %q", l.Epoch(), epoch)
	}
	if h := l.Head(); h != 5 {
		t.Errorf("Head() = %d after reopen, want 5", h)
	}
	if got := mustRooms(t, l); !slices.Equal(got, rooms) {
		t.Errorf("Rooms() after reopen = %+v\nwant %+v", got, rooms)
	}
	checkTrimmed(t, l, []string{"a"}, 0, 1)
	checkEvents(t, "after reopen", readAll(t, l, []string{"a", "b"}, 1), all[1:])
	evs := mustAppend(t, l, keyed(g.entry("a"), "k"), g.entry("c"))
	if d := diffEvent(evs[0], all[0]); d != "" {
		t.Errorf("idempotency key after reopen: %s", d)
	}
	if evs[1].Offset != 6 || l.Head() != 6 {
		t.Errorf("append after reopen got offset %d, Head %d; want 6, 6", evs[1].Offset, l.Head())
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	l = openLog(t, open)
	checkEvents(t, "after second reopen", readAll(t, l, []string{"a", "b", "c"}, 1), append(all[1:], evs[1]))
}
