package messages

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"sync"

	"github.com/oklog/ulid/v2"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
)

// Config configures a Service. The zero value is usable: no moderator
// role, the default scan bound.
type Config struct {
	// ModeratorRole, when set, lets a token holding that role (its
	// `roles`/`role` claim) edit and delete any message in the rooms it
	// may publish to (rtbroker serve --moderator-role, or the policy
	// file's "moderator_role").
	ModeratorRole string
	// MaxScan bounds how many log events one Page reads to fill itself
	// (changes and deleted messages are skipped, so a page may need more
	// than its limit); a page that reaches it is returned short, with
	// next where it stopped. Default DefaultMaxScan.
	MaxScan int
}

// DefaultMaxScan is Config.MaxScan's default.
const DefaultMaxScan = 10000

// Service makes edits and deletes and serves the folded message view. It
// is safe for concurrent use; one Service must serve every gateway of a
// broker (it serialises the changes of a room). It starts no goroutine
// and needs no Close.
type Service struct {
	b    *broker.Broker
	cfg  Config
	seed maphash.Seed
	// locks serialise the changes of a room (a room hashes to one of
	// them): a change reads the message's record and commits the next
	// one under its lock, so the later change has the later offset and
	// its record is the one kept.
	locks [64]sync.Mutex
}

// New returns a Service over b.
func New(b *broker.Broker, cfg Config) *Service {
	if cfg.MaxScan <= 0 {
		cfg.MaxScan = DefaultMaxScan
	}
	return &Service{b: b, cfg: cfg, seed: maphash.MakeSeed()}
}

// Ref names a message: its id and its offset. Both are in every event a
// client receives (the meta of a Socket.IO event, the JSON of the REST
// API, SSE and long-poll); the offset makes the lookup one index seek and
// the id must match the event found there.
type Ref struct {
	ID     ulid.ULID
	Offset uint64
}

// ParseRef parses a message's id (26 characters) and offset (a whole
// number) as clients send them. The error is a 400 invalid_argument.
func ParseRef(id, offset string) (Ref, error) {
	u, err := ulid.ParseStrict(id)
	if err != nil {
		return Ref{}, badRequest("id must be an event id (26 characters, as in the event's \"id\")")
	}
	off, err := broker.ParseOffset(offset)
	if err != nil || off == 0 {
		return Ref{}, badRequest("offset must be the event's offset (a whole number from 1), beside its id")
	}
	return Ref{ID: u, Offset: off}, nil
}

// Edit replaces the data of the message ref in room with data, by logging
// an EditType event (from: the caller) together with the message's state
// record, and returns the committed edit event. data must be JSON and not
// null (an edit with no data is refused; use Delete).
//
// Who may: the caller needs publish permission on room, and must be the
// message's author (its `from` is the caller's), hold the moderator role,
// or be an API key; anonymous callers may not. Errors: 403 forbidden
// (wrapping auth.ErrForbidden), 404 not_found (no such message in room:
// unknown id, another room's offset, trimmed by retention, or deleted),
// 400 invalid_argument (bad data, or ref names an edit or a delete),
// broker's errors (closed, too large), and ctx's.
func (s *Service) Edit(ctx context.Context, id auth.Identity, room string, ref Ref, data []byte) (*broker.Event, error) {
	if len(data) == 0 || string(data) == "null" {
		return nil, badRequest("data is required: the message's new data (use message:delete to remove it)")
	}
	compact, err := broker.CompactJSON(data)
	if err != nil {
		return nil, err
	}
	return s.change(ctx, id, room, ref, opEdit, compact)
}

// Delete removes the message ref from room's folded view, by logging a
// DeleteType event with the message's state record, and returns the
// committed delete event. A deleted message cannot be edited or deleted
// again (404 not_found). Permissions and errors are Edit's.
func (s *Service) Delete(ctx context.Context, id auth.Identity, room string, ref Ref) (*broker.Event, error) {
	return s.change(ctx, id, room, ref, opDelete, nil)
}

// change checks and commits one change under the room's lock.
func (s *Service) change(ctx context.Context, id auth.Identity, room string, ref Ref, op string, data []byte) (*broker.Event, error) {
	if err := broker.ValidatePublicRoom(room); err != nil {
		return nil, err
	}
	if err := id.Check(auth.Publish, room); err != nil {
		return nil, err
	}
	if id.Anonymous {
		return nil, fmt.Errorf("%w: anonymous clients cannot edit or delete messages", auth.ErrForbidden)
	}
	mu := &s.locks[maphash.String(s.seed, room)%uint64(len(s.locks))]
	mu.Lock()
	defer mu.Unlock()
	orig, err := s.lookup(ctx, room, ref)
	if err != nil {
		return nil, err
	}
	if !s.may(id, orig) {
		return nil, fmt.Errorf("%w: only the message's author or a moderator may %s it", auth.ErrForbidden, op)
	}
	typ := EditType
	if op == opDelete {
		typ = DeleteType
	}
	m := broker.Message{Room: room, Type: typ, Data: changeData(ref.ID, ref.Offset, data), From: id.From()}
	return s.b.PublishWith(ctx, m, func(e broker.Entry) []broker.Record {
		c := &change{Op: op, Of: ref.ID, ID: e.ID, Time: e.Time, From: e.From, Data: data}
		return []broker.Record{c.record(room, ref.Offset)}
	})
}

// may reports whether id may change the message orig.
func (s *Service) may(id auth.Identity, orig *broker.Event) bool {
	switch {
	case id.APIKey:
		return true
	case s.cfg.ModeratorRole != "" && id.HasRole(s.cfg.ModeratorRole):
		return true
	}
	return orig.From == id.From()
}

// lookup returns the message ref of room, not deleted: one seek on the
// room's index, one state record read.
func (s *Service) lookup(ctx context.Context, room string, ref Ref) (*broker.Event, error) {
	res, err := s.b.History(ctx, room, ref.Offset-1, 1)
	if err != nil {
		return nil, err
	}
	if len(res.Events) == 0 || res.Events[0].Offset != ref.Offset || res.Events[0].ID != ref.ID {
		return nil, notFound(fmt.Sprintf("no message %s at offset %d in room %q (unknown, in another room, or removed by retention)", ref.ID, ref.Offset, room))
	}
	orig := res.Events[0]
	if IsChangeType(orig.Type) {
		return nil, badRequest(fmt.Sprintf("event %s is a %s, not a message: change the message it refers to", ref.ID, orig.Type))
	}
	c, err := s.record(ctx, room, orig)
	if err != nil {
		return nil, err
	}
	if c != nil && c.Op == opDelete {
		return nil, notFound(fmt.Sprintf("message %s in room %q was deleted", ref.ID, room))
	}
	return orig, nil
}

// record returns the change record of ev (nil when it was never changed).
func (s *Service) record(ctx context.Context, room string, ev *broker.Event) (*change, error) {
	rec, err := s.b.GetState(ctx, recordKey(room, ev.Offset))
	if errors.Is(err, broker.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := decodeChange(rec.Value)
	if err != nil {
		return nil, err
	}
	if c.Of != ev.ID {
		return nil, nil // a record of another log's event: not this message's
	}
	return c, nil
}

func badRequest(msg string) error { return wire.BadRequest(msg) }

func notFound(msg string) error {
	return &wire.Error{Status: http.StatusNotFound, Code: wire.CodeNotFound, Message: msg}
}
