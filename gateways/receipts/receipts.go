package receipts

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
)

// Defaults of Config.
const (
	// DefaultMaxRooms caps the rooms one unread listing returns.
	DefaultMaxRooms = 1000
	// DefaultMaxUnread caps one room's unread count: counting walks the
	// room's index from the read position (no event is read), at most
	// this many entries; a bigger backlog is reported as this number with
	// "unread_capped": true.
	DefaultMaxUnread = 10000
)

// KeyPrefix begins every read position's key in the state store.
const KeyPrefix = "read/"

// EventType is the type of the ephemeral event sent to a room's
// subscribers when a user's read position in it moves: {user, offset}.
const EventType = "receipt"

// Config holds the limits of a Service. Zero values take the defaults.
type Config struct {
	MaxRooms  int // rooms one listing returns at most (DefaultMaxRooms)
	MaxUnread int // an unread count's cap (DefaultMaxUnread)
}

// Service marks read positions and lists unread counts on one broker.
// Share one Service between the gateways of a process, so that marks of
// one user in one room are serialized. Its methods are safe for
// concurrent use.
type Service struct {
	b    *broker.Broker
	cfg  Config
	seed maphash.Seed
	// locks serialize the read-compare-write of a position, by key hash.
	locks [64]sync.Mutex
}

// New returns a Service on b, which must have a state store.
func New(b *broker.Broker, cfg Config) *Service {
	if cfg.MaxRooms <= 0 {
		cfg.MaxRooms = DefaultMaxRooms
	}
	if cfg.MaxUnread <= 0 {
		cfg.MaxUnread = DefaultMaxUnread
	}
	return &Service{b: b, cfg: cfg, seed: maphash.MakeSeed()}
}

// Marked is the answer to Mark: the room and the user's read position in
// it after the call, and whether the call moved it.
type Marked struct {
	Room   string `json:"room"`
	Offset uint64 `json:"offset"`
	Moved  bool   `json:"moved"`
}

// position is a read position as stored: the offset and the epoch of the
// log it belongs to (a position of another epoch counts as none).
type position struct {
	Offset uint64    `json:"offset"`
	Epoch  string    `json:"epoch"`
	Time   time.Time `json:"time"`
}

// Mark moves id's read position in room to offset when offset is above
// it; a lower or equal offset changes nothing and answers the stored
// position with Moved false. When it moves, the position is durable
// before Mark returns, and the room's subscribers (the user's own
// connections too) are sent the ephemeral EventType event {user, offset}
// from the user. room is a log room name.
//
// Errors: an invalid room (wraps broker.ErrInvalid), an anonymous
// identity or one without the history permission on room (auth.ErrForbidden),
// a room without retained events (404 not_found), an offset beyond the
// room's newest event (400 invalid_argument), or the store's error.
func (s *Service) Mark(ctx context.Context, id auth.Identity, room string, offset uint64) (Marked, error) {
	if err := broker.ValidatePublicRoom(room); err != nil {
		return Marked{}, err
	}
	if id.Anonymous {
		return Marked{}, fmt.Errorf("%w: anonymous clients have no read positions", auth.ErrForbidden)
	}
	if err := id.Check(auth.History, room); err != nil {
		return Marked{}, err
	}
	last, err := s.b.HistoryBefore(ctx, room, 0, 1)
	if err != nil {
		return Marked{}, err
	}
	if len(last) == 0 {
		return Marked{}, &wire.Error{Status: http.StatusNotFound, Code: wire.CodeNotFound, Message: fmt.Sprintf("room %q has no events", room)}
	}
	if head := last[0].Offset; offset > head {
		return Marked{}, wire.BadRequest(fmt.Sprintf("offset %d is beyond the room's newest event (%d)", offset, head))
	}
	key := Key(id.Subject, room)
	mu := &s.locks[maphash.String(s.seed, key)%uint64(len(s.locks))]
	mu.Lock()
	cur, err := s.get(ctx, key)
	if err != nil || offset <= cur {
		mu.Unlock()
		return Marked{Room: room, Offset: cur}, err
	}
	val, _ := json.Marshal(position{Offset: offset, Epoch: s.b.Epoch(), Time: time.Now().UTC()})
	err = s.b.PutState(ctx, broker.Record{Key: key, Value: val})
	mu.Unlock()
	if err != nil {
		return Marked{}, err
	}
	data, _ := json.Marshal(struct {
		User   string `json:"user"`
		Offset uint64 `json:"offset"`
	}{id.Subject, offset})
	// Best effort: the position is durable; a closing broker drops the event.
	_, _ = s.b.PublishEphemeral(broker.Message{Room: room, Type: EventType, Data: data, From: id.From()})
	return Marked{Room: room, Offset: offset, Moved: true}, nil
}

// get returns the stored read position under key, 0 when there is none
// or it belongs to another epoch of the log.
func (s *Service) get(ctx context.Context, key string) (uint64, error) {
	rec, err := s.b.GetState(ctx, key)
	if errors.Is(err, broker.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var p position
	if json.Unmarshal(rec.Value, &p) != nil || p.Epoch != s.b.Epoch() {
		return 0, nil
	}
	return p.Offset, nil
}

// Unread is one room of a listing.
type Unread struct {
	Room   string `json:"room"`
	Head   uint64 `json:"head"`   // offset of the room's newest event
	Read   uint64 `json:"read"`   // the user's read position, 0 if none
	Unread int    `json:"unread"` // retained events after Read, at most MaxUnread
	// Capped reports that more than MaxUnread events are unread.
	Capped bool `json:"unread_capped,omitempty"`
}

// Listing is the answer to List.
type Listing struct {
	Rooms []Unread `json:"rooms"`
	// Truncated reports that more rooms than MaxRooms qualified: the
	// first MaxRooms by name are listed.
	Truncated bool `json:"truncated"`
}

// List returns, sorted by name, the rooms of the log whose names start
// with prefix that id may read (the history permission), with their
// heads, id's read positions and unread counts; names are given without
// prefix. At most MaxRooms rooms are listed (Truncated tells). An
// anonymous identity's positions are all 0. Errors are the log's or the
// store's.
func (s *Service) List(ctx context.Context, id auth.Identity, prefix string) (Listing, error) {
	infos, err := s.b.Rooms(ctx)
	if err != nil {
		return Listing{}, err
	}
	read := map[string]uint64{}
	if !id.Anonymous {
		if read, err = s.positions(ctx, id.Subject); err != nil {
			return Listing{}, err
		}
	}
	out := Listing{Rooms: []Unread{}}
	for _, info := range infos {
		if broker.IsInternalRoom(info.Name) || !strings.HasPrefix(info.Name, prefix) || !id.Can(auth.History, info.Name) {
			continue
		}
		if len(out.Rooms) == s.cfg.MaxRooms {
			out.Truncated = true
			break
		}
		u, err := s.unread(ctx, info, read[info.Name])
		if err != nil {
			return Listing{}, err
		}
		u.Room = strings.TrimPrefix(info.Name, prefix)
		out.Rooms = append(out.Rooms, u)
	}
	return out, nil
}

// unread counts the retained events of the room info describes after pos,
// without walking the room when its metadata answers.
func (s *Service) unread(ctx context.Context, info broker.RoomInfo, pos uint64) (Unread, error) {
	u := Unread{Head: info.Head, Read: pos}
	var n int
	switch {
	case pos >= info.Head || info.Count == 0:
	case pos < info.First:
		n = int(min(info.Count, uint64(s.cfg.MaxUnread)+1))
	default:
		var err error
		if n, err = s.b.CountAfter(ctx, info.Name, pos, s.cfg.MaxUnread+1); err != nil {
			return Unread{}, err
		}
	}
	u.Unread, u.Capped = min(n, s.cfg.MaxUnread), n > s.cfg.MaxUnread
	return u, nil
}

// positions returns subject's read positions of this log's epoch, by room.
func (s *Service) positions(ctx context.Context, subject string) (map[string]uint64, error) {
	prefix := Key(subject, "")
	out := map[string]uint64{}
	var bad error
	err := s.b.ScanState(ctx, prefix, func(r broker.Record) bool {
		var p position
		if err := json.Unmarshal(r.Value, &p); err != nil {
			bad = fmt.Errorf("read position %q: %w", r.Key, err)
			return false
		}
		if p.Epoch == s.b.Epoch() {
			out[strings.TrimPrefix(r.Key, prefix)] = p.Offset
		}
		return true
	})
	if err == nil {
		err = bad
	}
	return out, err
}

// Key is the state key of subject's read position in room:
// "read/<subject>/<room>", the subject escaped so that any subject makes a
// valid key and no two subjects share one (bytes other than letters,
// digits and `-.:@` become `_` and two hex digits); a subject too long
// for the key is replaced by `_h` and a hash of it.
func Key(subject, room string) string {
	var b strings.Builder
	b.WriteString(KeyPrefix)
	for i := 0; i < len(subject); i++ {
		c := subject[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-.:@", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	if b.Len()+1+broker.MaxRoomLen > broker.MaxStateKeyLen {
		b.Reset()
		b.WriteString(KeyPrefix)
		sum := sha256.Sum256([]byte(subject))
		fmt.Fprintf(&b, "_h%x", sum[:20])
	}
	b.WriteByte('/')
	b.WriteString(room)
	return b.String()
}
