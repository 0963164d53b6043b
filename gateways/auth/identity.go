package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Sentinel errors. Errors returned by this package wrap one of them; their
// text is safe to send to the client (it never contains a credential).
var (
	// ErrUnauthorized: no credential where one is required, or a
	// credential that is not valid (bad signature, expired, wrong
	// algorithm, issuer or audience, unknown API key…).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the identity is known but may not do what it asked.
	ErrForbidden = errors.New("forbidden")
)

// Action is something an identity may be allowed to do in a room.
type Action uint8

// Actions.
const (
	Subscribe Action = iota // receive a room's events live (SSE, long-poll, Socket.IO join)
	Publish                 // append events to a room, or send ephemeral ones
	History                 // read a room's stored events over the REST API
	Presence                // see who is in a room (GET /api/rooms/{room}/presence, Socket.IO room:presence)
)

func (a Action) String() string {
	switch a {
	case Subscribe:
		return "subscribe"
	case Publish:
		return "publish"
	case History:
		return "history"
	case Presence:
		return "presence"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Permissions lists, per action, the room patterns an identity may act on
// (see Match). A nil or empty list allows nothing.
type Permissions struct {
	Subscribe []string
	Publish   []string
	History   []string
	Presence  []string
}

func (p *Permissions) patterns(a Action) []string {
	if p == nil {
		return nil
	}
	switch a {
	case Subscribe:
		return p.Subscribe
	case Publish:
		return p.Publish
	case History:
		return p.History
	case Presence:
		return p.Presence
	}
	return nil
}

// All is every permission on every room: what an API key grants.
func All() Permissions {
	all := []string{"*"}
	return Permissions{Subscribe: all, Publish: all, History: all, Presence: all}
}

// AnonymousPrefix begins the Subject of every anonymous identity; the rest
// is a short random id. Tokens whose sub begins with it are refused.
const AnonymousPrefix = "anonymous:"

// APISubject is the Subject of identities authenticated by an API key
// without a name; a named key's Subject is APISubject + ":" + its name. It
// is what their events carry in `from`. Tokens whose sub is APISubject or
// begins with APISubject + ":" are refused.
const APISubject = "api"

// Identity is who a client is, as established by Authenticate. It is a
// value: copy it freely; its slices and the Permissions it points to are
// never modified.
type Identity struct {
	// Subject is the token's `sub`, APISubject for an API key, or
	// AnonymousPrefix plus a random id for an anonymous client. It is what
	// the events this identity publishes carry in `from`.
	Subject string
	// Anonymous reports a client that presented no credential.
	Anonymous bool
	// APIKey reports a server-to-server client authenticated by an API key.
	APIKey bool
	// Admin reports an identity allowed the operator endpoints (the
	// admin API, the backup): an unscoped API key, a scoped key
	// configured with Admin, or a token holding Config.AdminRole.
	// Anonymous identities are never Admin.
	Admin bool
	// Roles are the token's roles (its `roles` and `role` claims); nil for
	// API keys and anonymous identities. See HasRole.
	Roles []string
	// Rooms is what the identity may do where; nil allows nothing. It is
	// shared (by every anonymous identity, every identity of one API
	// key): a pointer keeps an Identity, copied into each connection, at
	// 80 bytes rather than 168.
	Rooms *Permissions
	// Expires is the token's exp (zero for API keys and anonymous
	// identities, which do not expire). Authenticate allowed the leeway
	// at the time it checked; connections that outlive the token are
	// ended at Authenticator.Deadline (Expires plus the leeway): Socket.IO
	// sockets are disconnected, SSE streams end with a retry hint, and
	// long-polls are held no longer.
	Expires time.Time
}

// From is the `from` of events this identity publishes: its Subject.
func (id Identity) From() string { return id.Subject }

// HasRole reports whether the identity's token grants role.
func (id Identity) HasRole(role string) bool { return slices.Contains(id.Roles, role) }

// Can reports whether id may do action in room (a log room name). Patterns
// containing {sub} never match an anonymous identity. A direct-message
// room (DirectPrefix) is decided by its name, not by patterns, except for
// API keys: see DirectRoom.
func (id Identity) Can(action Action, room string) bool {
	if allowed, decided := id.canDirect(room); decided {
		return allowed
	}
	for _, p := range id.Rooms.patterns(action) {
		sub := id.Subject
		if id.Anonymous || id.APIKey {
			sub = ""
		}
		if Match(p, room, sub) {
			return true
		}
	}
	return false
}

// Check is Can as an error: nil when allowed, else an error wrapping
// ErrForbidden that names the action and the room.
func (id Identity) Check(action Action, room string) error {
	if id.Can(action, room) {
		return nil
	}
	if err := id.directError(action, room); err != nil {
		return err
	}
	return fmt.Errorf("%w: not allowed to %s in room %q", ErrForbidden, action, room)
}

// Match reports whether room matches pattern. A pattern is literal text
// in which `*` stands for one or more characters of any kind and `{sub}`
// for the subject, taken literally (a `*` in a subject is not a
// wildcard). A pattern containing {sub} never matches when sub is empty.
//
//   - every room
//     general      only "general"
//     news:*       "news:sports", "news:a:b", not "news:"
//     user:{sub}   "user:ada" for the subject "ada"
func Match(pattern, room, sub string) bool {
	if !strings.Contains(pattern, "{sub}") {
		return matchPattern(pattern, room) // every request checks one: no allocation
	}
	// Split into literal pieces around the wildcards, substituting {sub}
	// into the literals so that it can never act as a wildcard.
	parts := strings.Split(pattern, "*")
	for i, p := range parts {
		if strings.Contains(p, "{sub}") {
			if sub == "" {
				return false
			}
			parts[i] = strings.ReplaceAll(p, "{sub}", sub)
		}
	}
	return matchParts(parts, room)
}

// matchPattern is matchParts over the literals of pattern between its
// wildcards, found as it goes instead of split out first.
func matchPattern(pattern, room string) bool {
	first, rest, wild := strings.Cut(pattern, "*")
	if !wild {
		return room == pattern
	}
	if !strings.HasPrefix(room, first) {
		return false
	}
	r := room[len(first):]
	for {
		lit, more, ok := strings.Cut(rest, "*")
		if !ok { // the last literal
			return len(r) > len(lit) && strings.HasSuffix(r, lit)
		}
		if len(r) < 1 {
			return false
		}
		j := strings.Index(r[1:], lit) // the wildcard takes at least one character
		if j < 0 {
			return false
		}
		r, rest = r[1+j+len(lit):], more
	}
}

// matchParts matches room against literals separated by wildcards of one
// or more characters. Taking each literal at its earliest possible place
// is optimal, so the match is linear in the room's length per literal.
func matchParts(parts []string, room string) bool {
	if len(parts) == 1 {
		return room == parts[0]
	}
	if !strings.HasPrefix(room, parts[0]) {
		return false
	}
	rest := room[len(parts[0]):]
	last := len(parts) - 1
	for _, lit := range parts[1:last] {
		if len(rest) < 1 {
			return false
		}
		j := strings.Index(rest[1:], lit) // the wildcard takes at least one character
		if j < 0 {
			return false
		}
		rest = rest[1+j+len(lit):]
	}
	return len(rest) > len(parts[last]) && strings.HasSuffix(rest, parts[last])
}
