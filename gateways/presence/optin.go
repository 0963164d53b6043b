package presence

import (
	"fmt"
	"net/url"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
)

// Param is the query parameter of SSE and long-poll requests (and the
// field of Socket.IO's room:join) with which a client asks for the
// presence:join and presence:leave events of the rooms it subscribes to.
const Param = "presence"

// Check returns nil when id may receive the presence events of every one
// of rooms (log room names): the auth.Presence permission that guards
// the presence list guards the events too. The error wraps
// auth.ErrForbidden and names the room.
func Check(id auth.Identity, rooms ...string) error {
	for _, room := range rooms {
		if err := id.Check(auth.Presence, room); err != nil {
			return fmt.Errorf("presence events asked for: %w", err)
		}
	}
	return nil
}

// OptIn checks (Check) that id may receive the presence events of rooms
// and makes sub receive them (broker.Subscription.OptIn); on error sub is
// unchanged.
func OptIn(sub *broker.Subscription, id auth.Identity, rooms ...string) error {
	if err := Check(id, rooms...); err != nil {
		return err
	}
	for _, room := range rooms {
		sub.OptIn(room, true)
	}
	return nil
}

// ParseParam reads the presence parameter of q: absent, "" , "0" or
// "false" is no; "1" or "true" is yes; anything else is invalid (an
// error wrapping broker.ErrInvalid).
func ParseParam(q url.Values) (bool, error) {
	switch q.Get(Param) {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	default:
		return false, &broker.ValidationError{Field: Param, Reason: "must be 1 (send presence:join and presence:leave) or 0"}
	}
}
