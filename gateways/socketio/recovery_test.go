package socketio

import (
	"fmt"
	"testing"
)

func TestParseToken(t *testing.T) {
	tests := []struct {
		in   string
		want token
		ok   bool
	}{
		{"", token{}, true},
		{"42", token{offset: 42}, true},
		{"c3.17", token{catchUp: true, gen: 3, offset: 17}, true},
		{"c3", token{}, false},
		{"c.1", token{}, false},
		{"-1", token{}, false},
		{"x", token{}, false},
	}
	for _, tc := range tests {
		got, ok := parseToken(tc.in)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("parseToken(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestResumeFrom(t *testing.T) {
	// Room a joined at 10; b joined later from 5 while the socket had read
	// through 40 (a catch-up of gen 2, live above 40).
	rec := &sessionRecord{Rooms: map[string]uint64{"a": 10, "b": 5}, Gen: 2, Live: 40, CatchUp: map[string]bool{"b": true}}
	tests := []struct {
		name string
		rec  *sessionRecord
		tok  token
		want string // fmt of the map, or "refused"
	}{
		{name: "live token after the catch-up", rec: rec, tok: token{offset: 50}, want: "map[a:50 b:50]"},
		{name: "live token before the join", rec: rec, tok: token{offset: 30}, want: "map[a:30 b:5]"},
		{name: "no event received yet", rec: rec, tok: token{}, want: "map[a:10 b:5]"},
		{name: "catch-up token", rec: rec, tok: token{catchUp: true, gen: 2, offset: 20}, want: "map[a:40 b:20]"},
		{name: "catch-up token of another gen", rec: rec, tok: token{catchUp: true, gen: 1, offset: 20}, want: "refused"},
		{name: "ambiguous without a live token", rec: &sessionRecord{Rooms: rec.Rooms, Gen: 2, Live: 40, CatchUp: rec.CatchUp, Ambiguous: true}, tok: token{offset: 30}, want: "refused"},
		{name: "ambiguous with a live token", rec: &sessionRecord{Rooms: rec.Rooms, Gen: 2, Live: 40, CatchUp: rec.CatchUp, Ambiguous: true}, tok: token{offset: 45}, want: "map[a:45 b:45]"},
		{name: "no catch-up ever", rec: &sessionRecord{Rooms: map[string]uint64{"a": 10, "c": 70}}, tok: token{offset: 60}, want: "map[a:60 c:70]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := resumeFrom(tc.rec, tc.tok)
			s := "refused"
			if ok {
				s = fmt.Sprint(got)
			}
			if s != tc.want {
				t.Fatalf("resumeFrom = %s, want %s", s, tc.want)
			}
		})
	}
}
