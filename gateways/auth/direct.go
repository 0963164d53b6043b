package auth

import (
	"fmt"
	"strings"
)

// Direct messages. A room named DirectPrefix + a + ":" + b, where a and b
// are two token subjects in sorted order (a < b, byte-wise) and neither
// holds a ':', is the direct-message room of those two users: each of
// them may subscribe to it, read its history, publish to it and see its
// presence without any policy entry, and no other token holder or
// anonymous client may do anything in it, whatever their patterns say
// (a "*" pattern does not reach into someone else's DMs). API keys
// (servers) follow their scope there as anywhere: an unscoped key may
// publish a notification into a DM and read it, a scoped one only when a
// pattern of its scope (say "dm:*") matches. A name that begins with
// DirectPrefix but is not such a pair (unsorted, one subject, the same
// subject twice, a subject with ':') is nobody's room: every identity,
// API keys included, is refused there.
//
// Subjects that hold characters not allowed in room names (a space, '/',
// '|', …), or a ':', have no DM room; their users can still be given
// rooms through the policy.

// DirectPrefix begins the name of every direct-message room.
const DirectPrefix = "dm:"

// DirectRoom returns the name of the direct-message room of subjects a
// and b (in either order). It fails when they are equal, empty, or hold
// a ':'; whether the name is a valid room (allowed characters, length)
// is for broker.ValidateRoom to say.
func DirectRoom(a, b string) (string, error) {
	if a == "" || b == "" || a == b || strings.Contains(a, ":") || strings.Contains(b, ":") {
		return "", fmt.Errorf("no direct-message room for %q and %q: two different subjects without ':' are needed", a, b)
	}
	if b < a {
		a, b = b, a
	}
	return DirectPrefix + a + ":" + b, nil
}

// directMembers parses room as a direct-message room. dm reports whether
// room begins with DirectPrefix; valid, whether it names two subjects as
// DirectRoom would (then a < b are they).
func directMembers(room string) (a, b string, dm, valid bool) {
	rest, dm := strings.CutPrefix(room, DirectPrefix)
	if !dm {
		return "", "", false, false
	}
	a, b, ok := strings.Cut(rest, ":")
	if !ok || a == "" || b == "" || strings.Contains(b, ":") || a >= b {
		return "", "", true, false
	}
	return a, b, true, true
}

// canDirect decides an action in a direct-message room: decided is false
// when room is not one (or id is an API key in a valid one: its scope
// decides), and then allowed means nothing.
func (id Identity) canDirect(room string) (allowed, decided bool) {
	a, b, dm, valid := directMembers(room)
	switch {
	case !dm:
		return false, false
	case !valid:
		return false, true
	case id.APIKey:
		return false, false
	case id.Anonymous:
		return false, true
	}
	return id.Subject == a || id.Subject == b, true
}

// directError explains why id may not act in room, when room is a
// direct-message room and id is not an API key in a valid one (whose
// scope decided); nil otherwise.
func (id Identity) directError(action Action, room string) error {
	_, _, dm, valid := directMembers(room)
	switch {
	case !dm, valid && id.APIKey:
		return nil
	case !valid:
		return fmt.Errorf("%w: %q is not a direct-message room: use %s{a}:{b} with two different subjects, without ':', in sorted order", ErrForbidden, room, DirectPrefix)
	}
	return fmt.Errorf("%w: not allowed to %s in room %q: a direct-message room is open to its two users only", ErrForbidden, action, room)
}
