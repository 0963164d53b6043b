package presence

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"
)

// Board is where the nodes of a cluster post who is present on each of
// them (storage/jetstream.Board implements it). A Cluster tells it which
// rooms changed; the Board reads a room's entry (Cluster.Entry) when it
// writes, and feeds every node's entries back to Cluster.Update.
type Board interface {
	// Node names this node among the Board's nodes.
	Node() string
	// Changed tells the Board that this node's entry of room changed.
	// It must not block.
	Changed(room string)
}

// Cluster is the Store of a node in a cluster: this node's connections
// are counted in memory (a Memory), posted to a Board room by room, and
// summed with the entries the other nodes posted there (anonymous
// connections too). A user connected
// to two nodes is one member; a node that stops or dies takes its members
// away when its Board entries stop counting (storage/jetstream.Board:
// within its NodeTTL).
//
// first and last (Add, Remove) are cluster-wide as far as this node knows:
// a user who arrives on two nodes at the same moment may be announced
// twice. Every method is safe for concurrent use: the Registry calls the
// Store methods, the Board calls Entry and Update.
type Cluster struct {
	board Board
	node  string // immutable: board.Node()

	mu     sync.Mutex // guards all below
	local  *Memory
	live   map[string]bool                    // nodes with a heartbeat
	remote map[string]map[string]roomEntry    // node → room → what it posted
	users  map[string]map[string]int          // room → user → nodes that have them, this one and live others
	gone   func(room, user string, count int) // see OnGone
}

// roomEntry is one node's entry of one room, as posted: its users and
// its anonymous connections.
type roomEntry struct {
	Users     map[string]entry `json:"u,omitempty"`
	Anonymous int              `json:"a,omitempty"`
}

// entry is one user's presence on one node, as posted.
type entry struct {
	Conns [numTransports]int `json:"c"`
	Since time.Time          `json:"s"`
}

// NewCluster returns a Cluster posting to board. Give its Entry and
// Update to the Board (storage/jetstream.Board.Start).
func NewCluster(board Board) *Cluster {
	return &Cluster{board: board, node: board.Node(), local: NewMemory(),
		live: map[string]bool{}, remote: map[string]map[string]roomEntry{}, users: map[string]map[string]int{}}
}

// OnGone sets the function called, outside the Cluster's lock, for each
// user who left a room because the other node holding them stopped or
// died (a user that node's entries stop listing left by that node's own
// account, and it announced so): count is the room's users after it.
// The Registry uses it to announce presence:leave to this node's
// subscribers.
func (c *Cluster) OnGone(fn func(room, user string, count int)) {
	c.mu.Lock()
	c.gone = fn
	c.mu.Unlock()
}

// Add implements Store in O(1).
func (c *Cluster) Add(room, user string, t Transport, now time.Time) (bool, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	firstHere, _ := c.local.Add(room, user, t, now)
	first := false
	if firstHere {
		first = c.incr(room, user) == 1
	}
	c.board.Changed(room)
	return first, len(c.users[room])
}

// Remove implements Store in O(1).
func (c *Cluster) Remove(room, user string, t Transport) (bool, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lastHere, _ := c.local.Remove(room, user, t)
	last := false
	if lastHere {
		last = c.decr(room, user) == 0
	}
	c.board.Changed(room)
	return last, len(c.users[room])
}

// AddAnonymous implements Store.
func (c *Cluster) AddAnonymous(room string, delta int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.local.AddAnonymous(room, delta)
	c.board.Changed(room)
}

// Snapshot implements Store: this node's members and the live other
// nodes', a user on several nodes once (connections summed, the earliest
// since, the transports' union); anonymous connections of every live node.
func (c *Cluster) Snapshot(room string, maxList int) Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	snap := c.local.Snapshot(room, maxList)
	snap.Count = len(c.users[room])
	for node, rooms := range c.remote {
		if c.live[node] {
			snap.Anonymous += rooms[room].Anonymous
		}
	}
	if snap.Count > maxList {
		snap.Listed, snap.Members = false, nil
		return snap
	}
	snap.Listed = true
	at := make(map[string]int, len(snap.Members)) // user → index in snap.Members
	for i, m := range snap.Members {
		at[m.User] = i
	}
	for node, rooms := range c.remote {
		if !c.live[node] {
			continue
		}
		for user, e := range rooms[room].Users {
			i, ok := at[user]
			if !ok {
				i = len(snap.Members)
				at[user] = i
				snap.Members = append(snap.Members, Member{User: user, Since: e.Since})
			}
			m := &snap.Members[i]
			for t, n := range e.Conns {
				if n > 0 {
					m.Connections += n
					if name := Transport(t).String(); !slices.Contains(m.Transports, name) {
						m.Transports = append(m.Transports, name)
					}
				}
			}
			if e.Since.Before(m.Since) {
				m.Since = e.Since
			}
		}
	}
	for i := range snap.Members {
		slices.Sort(snap.Members[i].Transports)
	}
	slices.SortFunc(snap.Members, func(a, b Member) int { return strings.Compare(a.User, b.User) })
	return snap
}

// Entry returns this node's entry of room for the Board: its users and
// their connections, and its anonymous connections; nil when it has
// none.
func (c *Cluster) Entry(room string) []byte {
	c.mu.Lock()
	r := c.local.rooms[room]
	if r == nil {
		c.mu.Unlock()
		return nil
	}
	e := roomEntry{Users: make(map[string]entry, len(r.users)), Anonymous: r.anonymous}
	for user, u := range r.users {
		e.Users[user] = entry{Conns: u.conns, Since: u.since}
	}
	c.mu.Unlock()
	b, _ := json.Marshal(e)
	return b
}

// departure is a user gone from a room, for OnGone.
type departure struct {
	room, user string
	count      int
}

// Update takes a Board change: node's entry of room (room "" is the
// node's heartbeat; value nil a deletion). This node's own are ignored:
// its Memory is the truth.
func (c *Cluster) Update(node, room string, value []byte) {
	if node == c.node {
		return
	}
	c.mu.Lock()
	var gone []departure
	switch {
	case room == "" && value != nil:
		if !c.live[node] {
			c.live[node] = true
			for room, re := range c.remote[node] {
				for user := range re.Users {
					c.incr(room, user)
				}
			}
		}
	case room == "":
		// Its entries are kept (they leave with their own TTL): a node
		// that was cut off for a while and beats again counts again.
		if c.live[node] {
			delete(c.live, node)
			for room, re := range c.remote[node] {
				for user := range re.Users {
					if c.decr(room, user) == 0 {
						gone = append(gone, departure{room, user, 0})
					}
				}
			}
		}
	default:
		c.setEntry(node, room, value)
	}
	for i := range gone {
		gone[i].count = len(c.users[gone[i].room])
	}
	fn := c.gone
	c.mu.Unlock()
	if fn != nil {
		for _, d := range gone {
			fn(d.room, d.user, d.count)
		}
	}
}

// setEntry replaces node's entry of room. A user it takes away left by
// that node's own account, and that node announced it. With c.mu held.
func (c *Cluster) setEntry(node, room string, value []byte) {
	var next roomEntry
	if len(value) > 0 && json.Unmarshal(value, &next) != nil {
		return
	}
	rooms := c.remote[node]
	if rooms == nil {
		rooms = map[string]roomEntry{}
		c.remote[node] = rooms
	}
	prev := rooms[room]
	if len(next.Users) == 0 && next.Anonymous == 0 {
		delete(rooms, room)
		if len(rooms) == 0 {
			delete(c.remote, node)
		}
	} else {
		rooms[room] = next
	}
	if !c.live[node] {
		return
	}
	for user := range next.Users {
		if _, ok := prev.Users[user]; !ok {
			c.incr(room, user)
		}
	}
	for user := range prev.Users {
		if _, ok := next.Users[user]; !ok {
			c.decr(room, user)
		}
	}
}

// incr counts one more node holding user in room and returns the count.
func (c *Cluster) incr(room, user string) int {
	u := c.users[room]
	if u == nil {
		u = map[string]int{}
		c.users[room] = u
	}
	u[user]++
	return u[user]
}

// decr counts one node less holding user in room and returns the count.
func (c *Cluster) decr(room, user string) int {
	u := c.users[room]
	if u[user] == 0 {
		return 0
	}
	u[user]--
	n := u[user]
	if n == 0 {
		delete(u, user)
		if len(u) == 0 {
			delete(c.users, room)
		}
	}
	return n
}

var _ Store = (*Cluster)(nil)
