package presence

import (
	"slices"
	"strings"
	"time"
)

// Transport names the kind of connection a member holds.
type Transport uint8

// Transports.
const (
	SocketIO Transport = iota // a Socket.IO socket that joined the room
	SSE                       // an open SSE stream of the room
	LongPoll                  // a long-poll client whose polls keep coming (see Registry.Poll)
	numTransports
)

// String is the transport's name in presence lists: "socket.io", "sse",
// "long-poll".
func (t Transport) String() string {
	switch t {
	case SocketIO:
		return "socket.io"
	case SSE:
		return "sse"
	case LongPoll:
		return "long-poll"
	}
	return "unknown"
}

// Member is one user present in a room.
type Member struct {
	User        string    `json:"user"`
	Connections int       `json:"connections"` // open connections of the user to the room, over every transport
	Since       time.Time `json:"since"`       // when the first of them arrived
	Transports  []string  `json:"transports"`  // the transports of those connections, sorted
}

// Snapshot is who is in a room at one moment.
type Snapshot struct {
	Room string `json:"room"`
	// Count is how many users (token or API-key identities) are present.
	Count int `json:"count"`
	// Anonymous is how many anonymous connections are present: they are
	// counted, never listed, and send no presence events.
	Anonymous int `json:"anonymous"`
	// Listed reports that Members lists every member: Count is at most
	// the registry's MaxList. Above it, Members is empty (counts only).
	Listed bool `json:"listed"`
	// Members, sorted by user, when Listed.
	Members []Member `json:"members"`
}

// Store holds who is present where: a count of connections per room,
// user and transport, and of anonymous connections per room. Memory is the
// single-node Store (a restart starts empty, so there are no ghost
// members); Cluster is a node's Store in a cluster: its own counts in a
// Memory, posted room by room to a Board beside the other nodes', and
// summed with theirs (a node that dies takes its members with it when its
// heartbeat expires).
//
// The Registry calls a Store with its own lock held, one call at a time;
// a Store need not be safe for concurrent use. Every call must cost O(1)
// in the room's size, but Snapshot, which may be O(members).
type Store interface {
	// Add counts one more connection of user in room over t, arrived at
	// now. It reports whether it is the user's first connection there,
	// and how many users are present after it.
	Add(room, user string, t Transport, now time.Time) (first bool, count int)
	// Remove counts one connection less (one Add's). It reports whether
	// it was the user's last there, and how many users are present after
	// it. Removing what was never added changes nothing.
	Remove(room, user string, t Transport) (last bool, count int)
	// AddAnonymous adds delta (1 or -1) to the room's anonymous
	// connections.
	AddAnonymous(room string, delta int)
	// Snapshot returns who is in room; the member list only when the
	// room has at most maxList users.
	Snapshot(room string, maxList int) Snapshot
}

// Memory is the in-memory Store. The zero value is not usable: call
// NewMemory. Not safe for concurrent use (the Registry serializes it).
type Memory struct {
	rooms map[string]*memRoom
}

type memRoom struct {
	users     map[string]*memUser
	anonymous int
}

type memUser struct {
	conns [numTransports]int
	total int
	since time.Time
}

// NewMemory returns an empty in-memory Store.
func NewMemory() *Memory { return &Memory{rooms: make(map[string]*memRoom)} }

// Add implements Store in O(1).
func (s *Memory) Add(room, user string, t Transport, now time.Time) (bool, int) {
	r := s.room(room)
	u := r.users[user]
	first := u == nil
	if first {
		u = &memUser{since: now}
		r.users[user] = u
	}
	u.conns[t]++
	u.total++
	return first, len(r.users)
}

// Remove implements Store in O(1).
func (s *Memory) Remove(room, user string, t Transport) (bool, int) {
	r := s.rooms[room]
	if r == nil {
		return false, 0
	}
	u := r.users[user]
	if u == nil || u.conns[t] == 0 {
		return false, len(r.users)
	}
	u.conns[t]--
	u.total--
	last := u.total == 0
	if last {
		delete(r.users, user)
		s.dropIfEmpty(room, r)
	}
	return last, len(r.users)
}

// AddAnonymous implements Store in O(1).
func (s *Memory) AddAnonymous(room string, delta int) {
	r := s.room(room)
	r.anonymous = max(r.anonymous+delta, 0)
	s.dropIfEmpty(room, r)
}

// Snapshot implements Store: O(1) above maxList, else O(n log n) in the
// room's n users.
func (s *Memory) Snapshot(room string, maxList int) Snapshot {
	snap := Snapshot{Room: room, Listed: true, Members: []Member{}}
	r := s.rooms[room]
	if r == nil {
		return snap
	}
	snap.Count, snap.Anonymous = len(r.users), r.anonymous
	if snap.Count > maxList {
		snap.Listed, snap.Members = false, nil
		return snap
	}
	snap.Members = make([]Member, 0, len(r.users))
	for name, u := range r.users {
		m := Member{User: name, Connections: u.total, Since: u.since}
		for t, n := range u.conns {
			if n > 0 {
				m.Transports = append(m.Transports, Transport(t).String())
			}
		}
		slices.Sort(m.Transports)
		snap.Members = append(snap.Members, m)
	}
	slices.SortFunc(snap.Members, func(a, b Member) int { return strings.Compare(a.User, b.User) })
	return snap
}

func (s *Memory) room(name string) *memRoom {
	r := s.rooms[name]
	if r == nil {
		r = &memRoom{users: make(map[string]*memUser)}
		s.rooms[name] = r
	}
	return r
}

func (s *Memory) dropIfEmpty(name string, r *memRoom) {
	if len(r.users) == 0 && r.anonymous == 0 {
		delete(s.rooms, name)
	}
}

var _ Store = (*Memory)(nil)
