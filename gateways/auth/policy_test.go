package auth_test

import (
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtbroker/rtbroker/gateways/auth"
)

// TestPolicyMerge checks what an identity may do once the server's policy
// (defaults for every token holder, per role, for anonymous clients, and
// scoped API keys) is added to what its credential says.
func TestPolicyMerge(t *testing.T) {
	scoped := auth.Permissions{Publish: []string{"news:*"}}
	a := newAuth(t, auth.Config{
		Secrets:              [][]byte{secret},
		Anonymous:            true,
		AnonymousPermissions: auth.Permissions{Subscribe: []string{"lobby"}},
		UserPermissions:      auth.Rooms{Subscribe: []string{"lobby", "inbox:{sub}"}, Publish: []string{"lobby"}}.Permissions(),
		RolePermissions: map[string]auth.Permissions{
			"admin": auth.Permissions{Subscribe: []string{"*"}, Publish: []string{"*"}}.Prefixed("admin:"),
			"mod":   {Publish: []string{"mod:log"}},
		},
		APIKeys: []string{"full-key"},
		Keys: []auth.APIKey{
			{Name: "newsbot", Key: "news-key", Rooms: &scoped},
			{Name: "newsbot", Hash: hash("news-key-2"), Rooms: &scoped}, // rotation: same name
			{Name: "backup", Key: "backup-key", Rooms: &auth.Permissions{}, Admin: true},
			{Key: "unnamed-scoped", Rooms: &auth.Permissions{Subscribe: []string{"ops"}}},
		},
	})
	token := func(sub string, edit func(jwt.MapClaims)) string {
		return sign(t, jwt.SigningMethodHS256, secret, claims(sub, edit))
	}
	noRooms := func(c jwt.MapClaims) { delete(c, "rooms") }
	withRoles := func(roles any, role any) func(jwt.MapClaims) {
		return func(c jwt.MapClaims) {
			delete(c, "rooms")
			if roles != nil {
				c["roles"] = roles
			}
			if role != nil {
				c["role"] = role
			}
		}
	}
	type check struct {
		action auth.Action
		room   string
		want   bool
	}
	tests := []struct {
		name      string
		cred      string
		wantSub   string
		wantAdmin bool
		checks    []check
	}{
		{name: "token claims and user defaults add up", cred: token("ada", nil), wantSub: "ada", checks: []check{
			{auth.Subscribe, "general", true}, // the claim
			{auth.Subscribe, "lobby", true},   // the defaults
			{auth.Publish, "lobby", true},
			{auth.Publish, "general", true},
			{auth.History, "lobby", true}, // history follows the defaults' subscribe
			{auth.Subscribe, "inbox:ada", true},
			{auth.Subscribe, "inbox:bob", false},
			{auth.Subscribe, "admin:x", false}, // no role
			{auth.Publish, "news:x", false},
		}},
		{name: "a token without a rooms claim gets the defaults", cred: token("bob", noRooms), wantSub: "bob", checks: []check{
			{auth.Subscribe, "lobby", true},
			{auth.Subscribe, "inbox:bob", true},
			{auth.Subscribe, "general", false},
		}},
		{name: "roles claim grants the role's permissions", cred: token("root", withRoles([]string{"ops", "admin"}, nil)), wantSub: "root", checks: []check{
			{auth.Subscribe, "admin:anything", true},
			{auth.Publish, "admin:room-1", true},
			{auth.Subscribe, "admin:", false},
			{auth.Subscribe, "general", false},
			{auth.Publish, "mod:log", false},
		}},
		{name: "role claim as a string", cred: token("mia", withRoles(nil, "mod")), wantSub: "mia", checks: []check{
			{auth.Publish, "mod:log", true},
			{auth.Subscribe, "admin:x", false},
		}},
		{name: "roles claim as a string and role as an array", cred: token("max", withRoles("mod", []string{"admin"})), wantSub: "max", checks: []check{
			{auth.Publish, "mod:log", true},
			{auth.Publish, "admin:x", true},
		}},
		{name: "an unknown role adds nothing", cred: token("eve", withRoles([]string{"superuser"}, nil)), wantSub: "eve", checks: []check{
			{auth.Subscribe, "admin:x", false},
			{auth.Subscribe, "lobby", true},
		}},
		{name: "anonymous gets only the anonymous permissions", cred: "", wantSub: auth.AnonymousPrefix, checks: []check{
			{auth.Subscribe, "lobby", true},
			{auth.Publish, "lobby", false},
			{auth.Subscribe, "general", false},
		}},
		{name: "unscoped API key", cred: "full-key", wantSub: "api", wantAdmin: true, checks: []check{
			{auth.Publish, "anything", true},
			{auth.History, "anything", true},
		}},
		{name: "scoped named API key", cred: "news-key", wantSub: "api:newsbot", checks: []check{
			{auth.Publish, "news:sports", true},
			{auth.Publish, "general", false},
			{auth.History, "news:sports", false},
			{auth.Subscribe, "news:sports", false},
		}},
		{name: "scoped key given by its digest", cred: "news-key-2", wantSub: "api:newsbot", checks: []check{
			{auth.Publish, "news:x", true},
			{auth.Publish, "x", false},
		}},
		{name: "admin-only key", cred: "backup-key", wantSub: "api:backup", wantAdmin: true, checks: []check{
			{auth.Publish, "news:x", false},
			{auth.Subscribe, "ops", false},
		}},
		{name: "scoped key without a name", cred: "unnamed-scoped", wantSub: "api", checks: []check{
			{auth.Subscribe, "ops", true},
			{auth.History, "ops", false}, // Permissions, not Rooms: no defaulting
			{auth.Publish, "ops", false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := a.Authenticate(tc.cred)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(id.Subject, tc.wantSub) || id.From() != id.Subject || id.Admin != tc.wantAdmin {
				t.Fatalf("identity %+v, want subject %q, admin %v", id, tc.wantSub, tc.wantAdmin)
			}
			if tc.wantSub != auth.AnonymousPrefix && id.Subject != tc.wantSub {
				t.Fatalf("subject %q, want %q", id.Subject, tc.wantSub)
			}
			for _, c := range tc.checks {
				if got := id.Can(c.action, c.room); got != c.want {
					t.Errorf("Can(%s, %q) = %v, want %v (rooms %+v)", c.action, c.room, got, c.want, *id.Rooms)
				}
			}
		})
	}
}

func hash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

func TestRolesClaim(t *testing.T) {
	a := newAuth(t, auth.Config{Secrets: [][]byte{secret}})
	tests := []struct {
		name    string
		roles   any
		role    any
		want    []string
		wantErr bool
	}{
		{name: "none", want: nil},
		{name: "array", roles: []string{"admin", "ops"}, want: []string{"admin", "ops"}},
		{name: "string", role: "admin", want: []string{"admin"}},
		{name: "both, united without repeats or empties", roles: []string{"ops", "", "admin"}, role: "admin", want: []string{"ops", "admin"}},
		{name: "roles of the wrong type", roles: 7, wantErr: true},
		{name: "array of the wrong type", roles: []any{"a", 1}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := sign(t, jwt.SigningMethodHS256, secret, claims("ada", func(c jwt.MapClaims) {
				if tc.roles != nil {
					c["roles"] = tc.roles
				}
				if tc.role != nil {
					c["role"] = tc.role
				}
			}))
			id, err := a.Authenticate(tok)
			if tc.wantErr {
				if !errors.Is(err, auth.ErrUnauthorized) {
					t.Fatalf("Authenticate = %+v, %v; want unauthorized", id, err)
				}
				return
			}
			if err != nil || !slices.Equal(id.Roles, tc.want) {
				t.Fatalf("roles %q (%v), want %q", id.Roles, err, tc.want)
			}
			for _, r := range tc.want {
				if !id.HasRole(r) {
					t.Errorf("HasRole(%q) = false", r)
				}
			}
			if id.HasRole("root") {
				t.Error("HasRole(root) = true")
			}
		})
	}
}

func TestPermissionsAdd(t *testing.T) {
	base := auth.Permissions{Subscribe: make([]string, 1, 8), Publish: []string{"a"}}
	base.Subscribe[0] = "x"
	got := base.Add(auth.Permissions{Subscribe: []string{"x", "y"}, History: []string{"h"}})
	if !slices.Equal(got.Subscribe, []string{"x", "y"}) || !slices.Equal(got.Publish, []string{"a"}) || !slices.Equal(got.History, []string{"h"}) || got.Presence != nil {
		t.Fatalf("Add = %+v", got)
	}
	// The base's spare capacity was not written into.
	if ext := base.Subscribe[:2]; ext[1] == "y" {
		t.Fatal("Add appended into the receiver's array")
	}
	if p := (auth.Permissions{Publish: []string{"*", "r-{sub}"}}).Prefixed("admin:"); !slices.Equal(p.Publish, []string{"admin:*", "admin:r-{sub}"}) || p.Subscribe != nil {
		t.Fatalf("Prefixed = %+v", p)
	}
	if !(auth.Permissions{}).Empty() || (auth.Permissions{Presence: []string{"x"}}).Empty() {
		t.Fatal("Empty")
	}
}

func TestAPIKeyConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     auth.Config
		wantErr string
	}{
		{"same key twice", auth.Config{APIKeys: []string{"k1"}, Keys: []auth.APIKey{{Name: "a", Key: "k1"}}}, "#1 and #2 are the same key"},
		{"same key as digest", auth.Config{Keys: []auth.APIKey{{Key: "k1"}, {Hash: hash("k1")}}}, "same key"},
		{"key and digest", auth.Config{Keys: []auth.APIKey{{Key: "k1", Hash: hash("k1")}}}, "not both"},
		{"short digest", auth.Config{Keys: []auth.APIKey{{Hash: []byte{1, 2}}}}, "32 bytes"},
		{"no key", auth.Config{Keys: []auth.APIKey{{Name: "a"}}}, "empty"},
		{"bad name", auth.Config{Keys: []auth.APIKey{{Name: "a b", Key: "k"}}}, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New = %v, want an error containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "k1") {
				t.Fatalf("the error shows the key: %v", err)
			}
		})
	}
	// A token may not pose as a named key.
	a := newAuth(t, auth.Config{Secrets: [][]byte{secret}})
	if _, err := a.Authenticate(sign(t, jwt.SigningMethodHS256, secret, claims("api:newsbot", nil))); !errors.Is(err, auth.ErrUnauthorized) || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("token with sub api:newsbot: %v", err)
	}
}
