package brokertest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
)

func mustCount(t *testing.T, l broker.Log, room string, after uint64, limit int) int {
	t.Helper()
	n, err := l.CountAfter(context.Background(), room, after, limit)
	if err != nil {
		t.Fatalf("CountAfter(%q, %d, %d): %v", room, after, limit, err)
	}
	return n
}

// testCountAfter checks CountAfter against the events Read returns, before
// and after a trim (which also indexes every event in a backend that
// indexes lazily) and after reopening.
func testCountAfter(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	fill(t, l, 10) // a: 1 3 ... 19, b: 2 4 ... 20
	type row struct {
		name  string
		room  string
		after uint64
		limit int
		want  int
	}
	check := func(t *testing.T, l broker.Log, rows []row) {
		t.Helper()
		for _, tc := range rows {
			t.Run(tc.name, func(t *testing.T) {
				if got := mustCount(t, l, tc.room, tc.after, tc.limit); got != tc.want {
					t.Errorf("CountAfter(%q, after %d, limit %d) = %d, want %d", tc.room, tc.after, tc.limit, got, tc.want)
				}
			})
		}
	}
	t.Run("untrimmed", func(t *testing.T) {
		check(t, l, []row{
			{"whole room", "a", 0, 100, 10},
			{"after an event of the room", "a", 5, 100, 7},
			{"after an event of another room", "a", 6, 100, 7},
			{"at the head", "a", 19, 100, 0},
			{"beyond the log's head", "a", 1000, 100, 0},
			{"capped", "a", 0, 3, 3},
			{"capped exactly", "b", 10, 5, 5},
			{"unknown room", "zz", 0, 100, 0},
		})
	})
	if n := mustTrim(t, l, broker.Retention{MaxCount: 4}, base.Add(time.Hour)); n != 12 {
		t.Fatalf("Trim removed %d, want 12", n) // a keeps 13 15 17 19, b keeps 14 16 18 20
	}
	rows := []row{
		{"position below the earliest retained event counts the retained ones", "a", 0, 100, 4},
		{"position at a trimmed event", "a", 11, 100, 4},
		{"position inside the retained events", "a", 15, 100, 2},
		{"capped below the retained count", "b", 1, 2, 2},
		{"at the head", "b", 20, 100, 0},
	}
	t.Run("trimmed", func(t *testing.T) { check(t, l, rows) })
	more := mustAppend(t, l, (&gen{n: 100}).entries("a", "a", "b")...) // 21 22 23
	rows = append(rows, row{"events appended after the trim", "a", 19, 100, 2}, row{"one new in b", "b", 22, 100, 1})
	rows[0].want, rows[1].want, rows[2].want, rows[4].want = 6, 6, 4, 1
	t.Run("appended", func(t *testing.T) { check(t, l, rows) })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, open)
	t.Run("reopened", func(t *testing.T) { check(t, l, rows) })
	// Cross-check against Read from every position.
	for after := uint64(0); after <= more[2].Offset+1; after++ {
		for _, room := range []string{"a", "b"} {
			want := len(readAll(t, l, []string{room}, after))
			if got := mustCount(t, l, room, after, 1000); got != want {
				t.Errorf("CountAfter(%q, %d) = %d, Read finds %d", room, after, got, want)
			}
		}
	}
	if _, err := l.CountAfter(context.Background(), "a", 0, 0); !errors.Is(err, broker.ErrInvalid) {
		t.Errorf("CountAfter with limit 0: %v, want ErrInvalid", err)
	}
}

// testTrimRules checks per-pattern retention: the first matching rule
// wins, rooms no rule matches take the default, a rule without limits
// keeps its rooms forever.
func testTrimRules(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	rooms := []string{"chat:x", "progress:job", "dm:a:b", "other", "chat:vip"}
	var g gen
	for i := range 10 {
		var batch []broker.Entry
		for _, r := range rooms {
			e := g.entry(r)
			e.Time = base.Add(time.Duration(i) * time.Minute) // minute i
			batch = append(batch, e)
		}
		mustAppend(t, l, batch...)
	}
	r := broker.Retention{
		MaxCount: 5, // the default
		Rules: []broker.RetentionRule{
			{Pattern: "chat:vip", MaxCount: 8},
			{Pattern: "chat:*", MaxAge: 3*time.Minute + time.Second},
			{Pattern: "progress:*", MaxAge: time.Minute + time.Second},
			{Pattern: "dm:*"},                // forever
			{Pattern: "chat:x", MaxCount: 1}, // shadowed by chat:*
		},
	}
	now := base.Add(9 * time.Minute)
	// chat:x keeps minutes 6..9 (4), progress:job 8..9 (2), dm 10, other 5, chat:vip 8.
	want := map[string]uint64{"chat:vip": 8, "chat:x": 4, "dm:a:b": 10, "other": 5, "progress:job": 2}
	if n := mustTrim(t, l, r, now); n != 50-(8+4+10+5+2) {
		t.Errorf("Trim removed %d events, want %d", n, 50-(8+4+10+5+2))
	}
	if n := mustTrim(t, l, r, now); n != 0 {
		t.Errorf("a second Trim removed %d events, want 0", n)
	}
	for _, info := range mustRooms(t, l) {
		if info.Count != want[info.Name] {
			t.Errorf("room %s keeps %d events, want %d", info.Name, info.Count, want[info.Name])
		}
		evs := readAll(t, l, []string{info.Name}, 0)
		if uint64(len(evs)) != info.Count || (len(evs) > 0 && evs[0].Offset != info.First) {
			t.Errorf("room %s: Read finds %v, Rooms says first %d count %d", info.Name, offsets(evs), info.First, info.Count)
		}
		if got := mustCount(t, l, info.Name, 0, 100); got != int(info.Count) {
			t.Errorf("room %s: CountAfter(0) = %d, want %d", info.Name, got, info.Count)
		}
	}
	names := make([]string, 0, len(want))
	for _, info := range mustRooms(t, l) {
		names = append(names, info.Name)
	}
	if !slices.Equal(names, []string{"chat:vip", "chat:x", "dm:a:b", "other", "progress:job"}) {
		t.Errorf("rooms %v", names)
	}
}

// testTrimBefore checks a one-off cut of one room (Broker.TrimRoom): a
// rule for the room with Before removes its events below the offset and
// records the watermark, with MaxCount the newest are kept, and the other
// rooms keep everything.
func testTrimBefore(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	fill(t, l, 10) // a: 1 3 ... 19, b: 2 4 ... 20
	cut := func(room string, before uint64, keep int) int {
		t.Helper()
		return mustTrim(t, l, broker.Retention{Rules: []broker.RetentionRule{{Pattern: room, Before: before, MaxCount: keep}}}, base.Add(time.Hour))
	}
	if n := cut("a", 8, 0); n != 4 { // 1 3 5 7
		t.Fatalf("Trim before 8 removed %d, want 4", n)
	}
	if got := offsets(readAll(t, l, []string{"a"}, 0)); !slices.Equal(got, []uint64{9, 11, 13, 15, 17, 19}) {
		t.Errorf("room a after the cut: %v", got)
	}
	if n := len(readAll(t, l, []string{"b"}, 0)); n != 10 {
		t.Errorf("room b keeps %d events, want all 10", n)
	}
	res, err := l.Read(context.Background(), []string{"a"}, 2, 10)
	if err != nil || res.Trimmed != 7 {
		t.Errorf("Read from 2 after the cut: trimmed %d, %v; want the watermark 7", res.Trimmed, err)
	}
	if n := cut("a", 0, 2); n != 4 { // keep 17 19
		t.Fatalf("Trim keeping 2 removed %d, want 4", n)
	}
	if n := cut("a", 1000, 0); n != 2 {
		t.Fatalf("Trim before 1000 removed %d, want the last 2", n)
	}
	if n := cut("a", 5, 0); n != 0 {
		t.Errorf("Trim of an empty room removed %d", n)
	}
}
