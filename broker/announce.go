package broker

import (
	"crypto/rand"

	"github.com/oklog/ulid/v2"
)

// Announce sends an ephemeral event that the server itself originates
// (presence:join, say) to the current subscribers of m.Room, like
// PublishEphemeral: never logged, Offset 0. Unlike PublishEphemeral, its
// type may be a reserved one (ReservedType), which no client can publish,
// so that a client cannot forge it. m.Data must be valid JSON; it is
// checked and compacted as a publish's is. Errors wrap ErrInvalid (a bad
// room, type or data) or are ErrClosed. Safe for concurrent use.
func (b *Broker) Announce(m Message) (*Event, error) {
	if err := ValidateRoom(m.Room); err != nil {
		return nil, err
	}
	if err := validateName("type", m.Type, MaxTypeLen); err != nil {
		return nil, err
	}
	data, err := CompactJSON(m.Data)
	if err != nil {
		return nil, err
	}
	return b.fanOutEphemeral(m, data)
}

// AnnounceLocal is Announce to this process's subscribers only: the event
// is not handed to the Relay (see Relay). A node uses it for what every
// node learns by itself, so that it is not announced once per node to
// everyone (presence:leave of the members of a node that died, say).
func (b *Broker) AnnounceLocal(m Message) (*Event, error) {
	if err := ValidateRoom(m.Room); err != nil {
		return nil, err
	}
	if err := validateName("type", m.Type, MaxTypeLen); err != nil {
		return nil, err
	}
	data, err := CompactJSON(m.Data)
	if err != nil {
		return nil, err
	}
	now := b.cfg.Now().UTC()
	ev := &Event{ID: ulid.MustNew(ulid.Timestamp(now), rand.Reader), Room: m.Room, Type: m.Type, Data: data, Time: now, From: m.From}
	if !b.deliverEphemeral(ev) {
		return nil, ErrClosed
	}
	return ev, nil
}
