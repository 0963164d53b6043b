package socketio

import (
	"encoding/json"
	"fmt"
	"testing"
)

// TestRoomOffsets checks the session's rooms against the map they
// replace: the same JSON (so records written before and after read the
// same), lookups, and copies that leave the original alone.
func TestRoomOffsets(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    map[string]uint64
	}{
		{name: "nil", m: nil},
		{name: "empty", m: map[string]uint64{}},
		{name: "one", m: map[string]uint64{"room": 7}},
		{name: "several, unsorted, escaped", m: map[string]uint64{"zeta": 1, "a<b>&c": 2, "ns/é\"q": 18446744073709551615, "b": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro := roomOffsetsOf(tc.m)
			got, err := json.Marshal(ro)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(tc.m)
			if string(got) != string(want) {
				t.Fatalf("JSON %s, want %s (as the map)", got, want)
			}
			var back roomOffsets
			if err := json.Unmarshal(want, &back); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(back) != fmt.Sprint(ro) || (back == nil) != (tc.m == nil) {
				t.Fatalf("read back %v, want %v", back, ro)
			}
			for r, pos := range tc.m {
				if p, ok := ro.get(r); !ok || p != pos || !ro.has(r) {
					t.Errorf("get(%q) = %d %v, want %d", r, p, ok, pos)
				}
			}
			if _, ok := ro.get("absent"); ok || ro.has("absent") {
				t.Error("absent room found")
			}
			n := 0
			for r, pos := range ro.all() {
				if tc.m[r] != pos {
					t.Errorf("all: %q at %d, want %d", r, pos, tc.m[r])
				}
				n++
			}
			if n != len(tc.m) {
				t.Errorf("all yielded %d rooms, want %d", n, len(tc.m))
			}
			before := fmt.Sprint(ro)
			added := ro.with("m", 5).with("b", 9)
			removed := added.without("zeta").without("absent")
			if fmt.Sprint(ro) != before {
				t.Fatalf("with/without changed the original: %v, was %s", ro, before)
			}
			wantAdded := map[string]uint64{"m": 5, "b": 9}
			for r, pos := range tc.m {
				if r != "b" {
					wantAdded[r] = pos
				}
			}
			if got, want := fmt.Sprint(added), fmt.Sprint(roomOffsetsOf(wantAdded)); got != want {
				t.Errorf("with: %s, want %s", got, want)
			}
			delete(wantAdded, "zeta")
			if got, want := fmt.Sprint(removed), fmt.Sprint(roomOffsetsOf(wantAdded)); got != want {
				t.Errorf("without: %s, want %s", got, want)
			}
		})
	}
	if err := json.Unmarshal([]byte(`{"a":-1}`), new(roomOffsets)); err == nil {
		t.Error("a negative offset was accepted")
	}
}
