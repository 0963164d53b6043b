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
	// Generation 2 began when b was joined from 5 while a was read through
	// 40 (the frontier): b's events up to 40 are a catch-up. Generation 1
	// had a alone, from 10. c was joined in generation 2 at the head, 60.
	prev := &generation{Gen: 1, Live: 0, Rooms: roomOffsetsOf(map[string]uint64{"a": 10})}
	rec := &sessionState{generation: generation{Gen: 2, Live: 40, Rooms: roomOffsetsOf(map[string]uint64{"a": 40, "b": 5, "c": 60})},
		Added: map[string]bool{"b": true, "c": true}, Prev: prev}
	tests := []struct {
		name string
		rec  *sessionState
		tok  token
		want string // fmt of the map, or "refused"
	}{
		{name: "live token of the generation", rec: rec, tok: token{offset: 50}, want: "map[a:50 b:50 c:60]"},
		{name: "catch-up token of the generation", rec: rec, tok: token{catchUp: true, gen: 2, offset: 20}, want: "map[a:40 b:20 c:60]"},
		{name: "live token of the previous generation", rec: rec, tok: token{offset: 30}, want: "map[a:30 b:5 c:60]"},
		{name: "no event received yet", rec: rec, tok: token{}, want: "map[a:10 b:5 c:60]"},
		{name: "catch-up token of an unknown generation", rec: rec, tok: token{catchUp: true, gen: 7, offset: 20}, want: "refused"},
		{name: "catch-up token of the previous generation", rec: &sessionState{generation: rec.generation, Added: rec.Added,
			Prev: &generation{Gen: 1, Live: 30, Rooms: roomOffsetsOf(map[string]uint64{"a": 10})}}, tok: token{catchUp: true, gen: 1, offset: 20}, want: "map[a:20 b:5 c:60]"},
		{name: "token older than the previous generation", rec: &sessionState{generation: rec.generation, Added: rec.Added,
			Prev: &generation{Gen: 1, Live: 30, Rooms: roomOffsetsOf(map[string]uint64{"a": 10})}}, tok: token{offset: 25}, want: "refused"},
		{name: "no previous generation", rec: &sessionState{generation: rec.generation}, tok: token{offset: 30}, want: "refused"},
		{name: "fresh session", rec: &sessionState{generation: generation{Gen: 1, Rooms: roomOffsetsOf(map[string]uint64{"a": 10, "c": 70})}}, tok: token{offset: 60}, want: "map[a:60 c:70]"},
		{name: "fresh session, nothing received", rec: &sessionState{generation: generation{Gen: 1, Rooms: roomOffsetsOf(map[string]uint64{"a": 10})}}, tok: token{}, want: "map[a:10]"},
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
