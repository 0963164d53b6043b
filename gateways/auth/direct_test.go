package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/rtbroker/rtbroker/gateways/auth"
)

// TestDirectRooms: who may act in a dm:{a}:{b} room, whatever the
// patterns say.
func TestDirectRooms(t *testing.T) {
	everything := auth.All()
	scoped := auth.Permissions{Publish: []string{"dm:*"}}
	ids := map[string]auth.Identity{
		"ada":             {Subject: "ada", Rooms: &everything},
		"bob":             {Subject: "bob", Rooms: &auth.Permissions{}},
		"eve":             {Subject: "eve", Rooms: &everything},
		"anonymous":       {Subject: auth.AnonymousPrefix + "x", Anonymous: true, Rooms: &everything},
		"unscoped key":    {Subject: auth.APISubject, APIKey: true, Rooms: &everything},
		"dm-scoped key":   {Subject: "api:dm", APIKey: true, Rooms: &scoped},
		"other-scope key": {Subject: "api:news", APIKey: true, Rooms: &auth.Permissions{Publish: []string{"news:*"}}},
	}
	tests := []struct {
		name, id, room string
		action         auth.Action
		want           bool
		wantMsg        string // in the Check error, when refused
	}{
		{name: "first user subscribes", id: "ada", room: "dm:ada:bob", action: auth.Subscribe, want: true},
		{name: "first user publishes", id: "ada", room: "dm:ada:bob", action: auth.Publish, want: true},
		{name: "second user without any pattern reads history", id: "bob", room: "dm:ada:bob", action: auth.History, want: true},
		{name: "second user sees presence", id: "bob", room: "dm:ada:bob", action: auth.Presence, want: true},
		{name: "third user with * is refused", id: "eve", room: "dm:ada:bob", action: auth.Subscribe, wantMsg: "open to its two users only"},
		{name: "third user may not publish", id: "eve", room: "dm:ada:bob", action: auth.Publish, wantMsg: "open to its two users only"},
		{name: "anonymous with * is refused", id: "anonymous", room: "dm:ada:bob", action: auth.Subscribe, wantMsg: "open to its two users only"},
		{name: "unsorted name refused to its users", id: "ada", room: "dm:bob:ada", action: auth.Subscribe, wantMsg: "not a direct-message room"},
		{name: "same subject twice", id: "ada", room: "dm:ada:ada", action: auth.Publish, wantMsg: "not a direct-message room"},
		{name: "one subject", id: "ada", room: "dm:ada", action: auth.Publish, wantMsg: "not a direct-message room"},
		{name: "subject with a colon", id: "ada", room: "dm:ada:b:c", action: auth.Publish, wantMsg: "not a direct-message room"},
		{name: "unscoped key publishes", id: "unscoped key", room: "dm:ada:bob", action: auth.Publish, want: true},
		{name: "unscoped key reads", id: "unscoped key", room: "dm:ada:bob", action: auth.History, want: true},
		{name: "unscoped key refused an unsorted name", id: "unscoped key", room: "dm:bob:ada", action: auth.Publish, wantMsg: "not a direct-message room"},
		{name: "key scoped to dm:* publishes", id: "dm-scoped key", room: "dm:ada:bob", action: auth.Publish, want: true},
		{name: "key scoped to dm:* may not read", id: "dm-scoped key", room: "dm:ada:bob", action: auth.History, wantMsg: "not allowed to history"},
		{name: "key of another scope refused", id: "other-scope key", room: "dm:ada:bob", action: auth.Publish, wantMsg: "not allowed to publish"},
		{name: "other rooms keep their patterns", id: "bob", room: "general", action: auth.Subscribe, wantMsg: "not allowed to subscribe"},
		{name: "a room that only contains dm: is not one", id: "eve", room: "x:dm:ada:bob", action: auth.Subscribe, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := ids[tc.id]
			if got := id.Can(tc.action, tc.room); got != tc.want {
				t.Fatalf("Can(%v, %q) = %v, want %v", tc.action, tc.room, got, tc.want)
			}
			err := id.Check(tc.action, tc.room)
			if tc.want {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, auth.ErrForbidden) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Check = %v, want forbidden containing %q", err, tc.wantMsg)
			}
		})
	}
}

func TestDirectRoom(t *testing.T) {
	tests := []struct {
		a, b, want string
	}{
		{"bob", "ada", "dm:ada:bob"},
		{"ada", "bob", "dm:ada:bob"},
		{"ada", "ada", ""},
		{"ada", "", ""},
		{"a:b", "c", ""},
	}
	for _, tc := range tests {
		t.Run(tc.a+"+"+tc.b, func(t *testing.T) {
			got, err := auth.DirectRoom(tc.a, tc.b)
			if got != tc.want || (err == nil) != (tc.want != "") {
				t.Fatalf("DirectRoom = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
