package broker

import (
	"encoding/json"
)

// Announce sends an ephemeral event that the server itself originates
// (presence:join, say) to the current subscribers of m.Room, like
// PublishEphemeral: never logged, Offset 0. Unlike PublishEphemeral, its
// type may be a reserved one (ReservedType), which no client can publish,
// so that a client cannot forge it. m.Data must be valid JSON; it is
// checked and compacted as a publish's is. Errors wrap ErrInvalid (a bad
// room, type or data) or are ErrClosed. Safe for concurrent use.
func (b *Broker) Announce(m Message) (*Event, error) {
	data, err := announcement(m)
	if err != nil {
		return nil, err
	}
	return b.fanOutEphemeral(m, data, false)
}

// AnnounceOptIn is Announce to the subscribers of m.Room that opted in to
// the room's announcements (Subscription.OptIn) only, as Centrifugo's
// per-subscription join/leave opt-in: the others cost nothing (the room
// keeps its opted-in subscribers apart), and a room where no subscriber
// opted in costs no fan-out at all (the event returned is then nil, with
// no error). Errors as Announce's.
func (b *Broker) AnnounceOptIn(m Message) (*Event, error) {
	if !b.HasOptIn(m.Room) {
		return nil, nil
	}
	data, err := announcement(m)
	if err != nil {
		return nil, err
	}
	return b.fanOutEphemeral(m, data, true)
}

// HasOptIn reports whether a subscriber of room has opted in to its
// announcements (Subscription.OptIn) now, so that a caller can skip
// building an announcement no one would receive. On a Relay it reports
// true: this process does not know the other processes' subscribers.
// Safe for concurrent use.
func (b *Broker) HasOptIn(room string) bool {
	if b.relay != nil {
		return true // the other processes' subscribers may have
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	rt := b.tail.rooms[room]
	return rt != nil && len(rt.opted) > 0
}

// AnnounceLocal is Announce (or, with optedIn, AnnounceOptIn) to this
// process's subscribers only: the event is not handed to the Relay (see
// Relay). A node uses it for what every node learns by itself, so that it
// is not announced once per node to everyone (presence:leave of the
// members of a node that died, say).
func (b *Broker) AnnounceLocal(m Message, optedIn bool) (*Event, error) {
	data, err := announcement(m)
	if err != nil {
		return nil, err
	}
	now := b.cfg.Now().UTC()
	ev := &Event{ID: newID(now), Room: m.Room, Type: m.Type, Data: data, Time: now, From: m.From}
	if !b.deliverEphemeral(ev, optedIn) {
		return nil, ErrClosed
	}
	return ev, nil
}

// announcement checks an announcement's room and type (a reserved type
// allowed) and returns its data compacted. Errors wrap ErrInvalid.
func announcement(m Message) (json.RawMessage, error) {
	if err := ValidateRoom(m.Room); err != nil {
		return nil, err
	}
	if err := validateName("type", m.Type, MaxTypeLen); err != nil {
		return nil, err
	}
	return CompactJSON(m.Data)
}
