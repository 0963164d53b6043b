package socketio

import (
	"slices"
	"testing"
)

func TestRoomOffsets(t *testing.T) {
	var r roomOffsets
	if _, ok := r.get("a"); ok || r.minOffset() != 0 || len(r.rooms()) != 0 {
		t.Fatal("empty set has something")
	}
	for _, step := range []struct {
		name  string
		do    func()
		want  map[string]uint64
		min   uint64
		rooms []string
	}{
		{name: "add", do: func() { r.set("a", 5); r.set("b", 3); r.set("c", 9) }, want: map[string]uint64{"a": 5, "b": 3, "c": 9}, min: 3},
		{name: "update", do: func() { r.set("b", 7) }, want: map[string]uint64{"a": 5, "b": 7, "c": 9}, min: 5},
		{name: "delete the first", do: func() { r.del("a") }, want: map[string]uint64{"b": 7, "c": 9}, min: 7},
		{name: "delete a missing room", do: func() { r.del("zz") }, want: map[string]uint64{"b": 7, "c": 9}, min: 7},
		{name: "delete the rest", do: func() { r.del("c"); r.del("b") }, want: map[string]uint64{}, min: 0},
	} {
		step.do()
		if len(r) != len(step.want) {
			t.Fatalf("%s: %d rooms, want %d", step.name, len(r), len(step.want))
		}
		for room, off := range step.want {
			if got, ok := r.get(room); !ok || got != off {
				t.Errorf("%s: get(%q) = %d, %v; want %d", step.name, room, got, ok, off)
			}
		}
		if r.minOffset() != step.min {
			t.Errorf("%s: minOffset = %d, want %d", step.name, r.minOffset(), step.min)
		}
		rooms := r.rooms()
		slices.Sort(rooms)
		var want []string
		for room := range step.want {
			want = append(want, room)
		}
		slices.Sort(want)
		if !slices.Equal(rooms, want) {
			t.Errorf("%s: rooms = %v, want %v", step.name, rooms, want)
		}
	}
}
