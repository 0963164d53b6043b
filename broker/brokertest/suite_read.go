package brokertest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
)

// fill appends events to rooms a and b alternately, a first: a has the odd
// offsets 1..2n-1, b the even ones 2..2n. It returns all events in order.
func fill(t *testing.T, l broker.Log, n int) []*broker.Event {
	t.Helper()
	var g gen
	var all []*broker.Event
	for range n {
		all = append(all, mustAppend(t, l, g.entries("a", "b")...)...)
	}
	return all
}

func testReadOneRoom(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	all := fill(t, l, 5) // a: 1 3 5 7 9, b: 2 4 6 8 10
	tests := []struct {
		name  string
		room  string
		after uint64
	}{
		{"from zero", "a", 0},
		{"from an event of the room", "a", 3},
		{"from an event of another room", "a", 4},
		{"from the room's last event", "a", 9},
		{"from the head", "b", 10},
		{"beyond the head", "b", 50},
		{"unknown room", "zzz", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := mustRead(t, l, []string{tc.room}, tc.after, 100)
			checkEvents(t, "Read", res.Events, inRooms(all, tc.after, tc.room))
			if res.Through != 10 {
				t.Errorf("Through = %d, want the head 10", res.Through)
			}
		})
	}
}

func testReadMerge(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	var g gen
	var all []*broker.Event
	for i := range 12 {
		all = append(all, mustAppend(t, l, g.entries("a", "b", []string{"c", "a", "d"}[i%3])...)...)
	}
	tests := []struct {
		name  string
		rooms []string
		after uint64
		want  []string // the rooms whose events are expected
	}{
		{"two rooms", []string{"a", "c"}, 0, []string{"a", "c"}},
		{"reverse order", []string{"c", "a"}, 0, []string{"a", "c"}},
		{"three rooms from the middle", []string{"b", "c", "d"}, 17, []string{"b", "c", "d"}},
		{"duplicate rooms", []string{"a", "a", "b", "a"}, 5, []string{"a", "b"}},
		{"with unknown room", []string{"nope", "d"}, 0, []string{"d"}},
		{"no rooms", nil, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := mustRead(t, l, tc.rooms, tc.after, 1000)
			checkEvents(t, "Read", res.Events, inRooms(all, tc.after, tc.want...))
			if res.Through != l.Head() {
				t.Errorf("Through = %d, want the head %d", res.Through, l.Head())
			}
		})
	}
}

func testReadThrough(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	fill(t, l, 5) // a: 1 3 5 7 9, b: 2 4 6 8 10
	var g gen
	mustAppend(t, l, g.entries("c", "c")...) // 11 12: the head moves past a and b
	tests := []struct {
		name        string
		rooms       []string
		after       uint64
		limit       int
		wantOffsets []uint64
		wantThrough uint64
	}{
		{"full page ends at last event", []string{"a"}, 0, 2, []uint64{1, 3}, 3},
		{"next full page", []string{"a"}, 3, 2, []uint64{5, 7}, 7},
		{"exactly limit left", []string{"a"}, 3, 3, []uint64{5, 7, 9}, 9},
		{"short page reaches the head", []string{"a"}, 7, 2, []uint64{9}, 12},
		{"nothing left", []string{"a"}, 9, 2, nil, 12},
		{"two rooms full page", []string{"a", "b"}, 2, 4, []uint64{3, 4, 5, 6}, 6},
		{"two rooms short page", []string{"b", "a"}, 6, 10, []uint64{7, 8, 9, 10}, 12},
		{"limit one", []string{"c"}, 0, 1, []uint64{11}, 11},
		{"beyond the head", []string{"a"}, 99, 5, nil, 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := mustRead(t, l, tc.rooms, tc.after, tc.limit)
			if got := offsets(res.Events); !slices.Equal(got, tc.wantOffsets) && len(got)+len(tc.wantOffsets) > 0 {
				t.Errorf("offsets = %v, want %v", got, tc.wantOffsets)
			}
			if res.Through != tc.wantThrough {
				t.Errorf("Through = %d, want %d", res.Through, tc.wantThrough)
			}
		})
	}
}

func testReadPaging(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	var g gen
	var all []*broker.Event
	for i := range 30 {
		all = append(all, mustAppend(t, l, g.entries([]string{"a", "b", "c", "a", "a"}[i%5])...)...)
	}
	for _, rooms := range [][]string{{"a"}, {"b"}, {"a", "c"}, {"a", "b", "c"}} {
		for _, limit := range []int{1, 2, 3, 7, 29, 30, 31} {
			t.Run(fmt.Sprintf("%v limit %d", rooms, limit), func(t *testing.T) {
				var got []*broker.Event
				var after uint64
				for pages := 0; ; pages++ {
					if pages > len(all)+1 {
						t.Fatalf("no progress after %d pages, at %d", pages, after)
					}
					res := mustRead(t, l, rooms, after, limit)
					if len(res.Events) > limit {
						t.Fatalf("%d events for limit %d", len(res.Events), limit)
					}
					if res.Through < after && len(res.Events) > 0 {
						t.Fatalf("Through went back from %d to %d", after, res.Through)
					}
					got = append(got, res.Events...)
					if len(res.Events) == 0 {
						if res.Through != l.Head() {
							t.Fatalf("Through = %d at the end, want the head %d", res.Through, l.Head())
						}
						break
					}
					after = res.Through
				}
				checkEvents(t, "pages", got, inRooms(all, 0, rooms...))
			})
		}
	}
}

func testReadBefore(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	all := fill(t, l, 6) // a: 1 3 5 7 9 11, b: 2 ... 12
	a := inRooms(all, 0, "a")
	tests := []struct {
		name   string
		room   string
		before uint64
		limit  int
		want   []*broker.Event
	}{
		{"from the head", "a", 0, 3, a[3:]},
		{"before an event of the room", "a", 7, 2, a[1:3]},
		{"before an event of another room", "a", 8, 2, a[2:4]},
		{"limit above count", "a", 6, 100, a[:3]},
		{"before the first event", "a", 1, 5, nil},
		{"before offset 2", "a", 2, 5, a[:1]},
		{"beyond the head", "a", 1000, 2, a[4:]},
		{"whole room", "a", 0, 6, a},
		{"unknown room", "nope", 0, 5, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.ReadBefore(context.Background(), tc.room, tc.before, tc.limit)
			if err != nil {
				t.Fatalf("ReadBefore: %v", err)
			}
			checkEvents(t, "ReadBefore", got, tc.want)
		})
	}
	t.Run("paging back to the start", func(t *testing.T) {
		var got []*broker.Event
		var before uint64
		for {
			page, err := l.ReadBefore(context.Background(), "b", before, 4)
			if err != nil {
				t.Fatalf("ReadBefore(before %d): %v", before, err)
			}
			if len(page) == 0 {
				break
			}
			got = append(append([]*broker.Event(nil), page...), got...)
			before = page[0].Offset
		}
		checkEvents(t, "pages", got, inRooms(all, 0, "b"))
	})
}

func testRooms(t *testing.T, open func() broker.Log) {
	l := openLog(t, open)
	var g gen
	mustAppend(t, l, g.entries("zeta", "alpha", "mid/1", "alpha")...) // 1..4
	mustAppend(t, l, g.entries("Mid", "zeta")...)                     // 5 6
	want := []broker.RoomInfo{
		{Name: "Mid", Head: 5, First: 5, Count: 1},
		{Name: "alpha", Head: 4, First: 2, Count: 2},
		{Name: "mid/1", Head: 3, First: 3, Count: 1},
		{Name: "zeta", Head: 6, First: 1, Count: 2},
	}
	if got := mustRooms(t, l); !slices.Equal(got, want) {
		t.Errorf("Rooms() = %+v\nwant %+v", got, want)
	}
}
