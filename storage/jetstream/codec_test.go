package jetstream

import (
	"strings"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
)

func TestRoomToken(t *testing.T) {
	tests := []struct {
		name, room, token string
	}{
		{"plain", "general", "general"},
		{"dot", "a.b", "a=2Eb"},
		{"colon and at", "chat:x@y", "chat=3Ax=40y"},
		{"underscore, dash, slash stay", "_sio/a-b", "_sio/a-b"},
		{"every room character", "aZ09_-.:@", "aZ09_-=2E=3A=40"},
		{"equals is escaped", "a=2E", "a=3D2E"},
		{"space and star", "a *>", "a=20=2A=3E"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := RoomToken(tc.room); got != tc.token {
				t.Fatalf("RoomToken(%q) = %q, want %q", tc.room, got, tc.token)
			}
			if back, err := TokenRoom(tc.token); err != nil || back != tc.room {
				t.Fatalf("TokenRoom(%q) = %q, %v; want %q", tc.token, back, err, tc.room)
			}
		})
	}
	for _, bad := range []string{"a=", "a=2", "a=ZZ", "a=41", "a=2e"} {
		t.Run("bad "+bad, func(t *testing.T) {
			if r, err := TokenRoom(bad); err == nil {
				t.Fatalf("TokenRoom(%q) = %q, want an error", bad, r)
			}
		})
	}
}

// FuzzRoomToken checks that every room name and state key round-trips
// through a token that is one NATS subject token and a valid key-value
// key, and that tokens keep prefixes.
func FuzzRoomToken(f *testing.F) {
	for _, s := range []string{"a", "a.b", "..", "x:y@z", "_sio/session/1", "a=b"} {
		f.Add(s, "b")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if broker.ValidateStateKey(a) != nil { // the wider alphabet: rooms and state keys
			return
		}
		tok := RoomToken(a)
		if back, err := TokenRoom(tok); err != nil || back != a {
			t.Fatalf("%q -> %q -> %q, %v", a, tok, back, err)
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if !plainByte(c) && c != '=' && !(c >= '0' && c <= '9') {
				t.Fatalf("token %q of %q has %q: not a key-value key character", tok, a, c)
			}
		}
		if strings.ContainsAny(tok, ".*> \t") {
			t.Fatalf("token %q of %q is not one subject token", tok, a)
		}
		if broker.ValidateStateKey(a+b) == nil && !strings.HasPrefix(RoomToken(a+b), tok) {
			t.Fatalf("token of %q does not start with the token of %q", a+b, a)
		}
	})
}
