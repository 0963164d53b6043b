package presence_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/gateways/presence"
)

// memBoard is an in-memory Board shared by the Clusters of one test, as
// storage/jetstream.Board is by the nodes of a cluster: a change is
// posted at once to every node (its own included, which ignores it).
type memBoard struct {
	name string
	net  *memNet
}

type memNet struct {
	mu    sync.Mutex
	nodes map[string]*presence.Cluster
}

func (b *memBoard) Node() string { return b.name }

func (b *memBoard) Changed(room string) {
	// Like the real Board's writer: later, outside the caller's locks.
	go func() {
		b.net.mu.Lock()
		defer b.net.mu.Unlock()
		v := b.net.nodes[b.name].Entry(room)
		for _, c := range b.net.nodes {
			c.Update(b.name, room, v)
		}
	}()
}

// dies removes node's heartbeat, as its TTL running out does.
func (n *memNet) dies(node string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.nodes {
		c.Update(node, "", nil)
	}
}

func newNet(names ...string) (*memNet, []*presence.Cluster) {
	n := &memNet{nodes: map[string]*presence.Cluster{}}
	var out []*presence.Cluster
	for _, name := range names {
		c := presence.NewCluster(&memBoard{name: name, net: n})
		n.nodes[name] = c
		out = append(out, c)
	}
	for _, name := range names { // every heartbeat, to everyone
		for _, c := range out {
			c.Update(name, "", []byte{1})
		}
	}
	return n, out
}

func summary(s presence.Snapshot) string {
	var ms []string
	for _, m := range s.Members {
		ms = append(ms, fmt.Sprintf("%s:%d:%v", m.User, m.Connections, m.Transports))
	}
	return fmt.Sprintf("count=%d anonymous=%d %v", s.Count, s.Anonymous, ms)
}

// eventually waits for f to return want.
func eventually(t *testing.T, f func() string, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := f()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %s, want %s", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestClusterOneMemberOnTwoNodes: a user on two nodes is one member (the
// second arrival is not a first, the first departure not a last), listed
// with the connections of both; a node that dies takes its members, and
// the others are told of those who left the room with it; a node cut off
// for a while counts again when it beats again.
func TestClusterOneMemberOnTwoNodes(t *testing.T) {
	net, cs := newNet("n1", "n2")
	n1, n2 := cs[0], cs[1]
	var gone []string
	var mu sync.Mutex
	n1.OnGone(func(room, user string, count int) {
		mu.Lock()
		gone = append(gone, fmt.Sprintf("%s %s %d", room, user, count))
		mu.Unlock()
	})
	now := time.Now()
	if first, n := n1.Add("r", "ada", presence.SocketIO, now); !first || n != 1 {
		t.Fatalf("ada on n1: first %v count %d", first, n)
	}
	snap := func(c *presence.Cluster) func() string {
		return func() string { return summary(c.Snapshot("r", 100)) }
	}
	eventually(t, snap(n2), "count=1 anonymous=0 [ada:1:[socket.io]]")
	if first, n := n2.Add("r", "ada", presence.SSE, now); first || n != 1 {
		t.Fatalf("ada on n2 too: first %v count %d, want not first, 1", first, n)
	}
	if first, n := n2.Add("r", "bob", presence.SSE, now); !first || n != 2 {
		t.Fatalf("bob on n2: first %v count %d", first, n)
	}
	n1.AddAnonymous("r", 1)
	n2.AddAnonymous("r", 1)
	n2.AddAnonymous("r", 1)
	eventually(t, snap(n1), "count=2 anonymous=3 [ada:2:[socket.io sse] bob:1:[sse]]")
	eventually(t, snap(n2), "count=2 anonymous=3 [ada:2:[socket.io sse] bob:1:[sse]]")
	if last, n := n1.Remove("r", "ada", presence.SocketIO); last || n != 2 {
		t.Fatalf("ada leaves n1: last %v count %d, want not last (on n2), 2", last, n)
	}
	if first, _ := n1.Add("r", "ada", presence.SocketIO, now); first {
		t.Fatal("ada back on n1: a first")
	}
	eventually(t, snap(n1), "count=2 anonymous=3 [ada:2:[socket.io sse] bob:1:[sse]]")
	net.dies("n2")
	eventually(t, snap(n1), "count=1 anonymous=1 [ada:1:[socket.io]]")
	mu.Lock()
	if fmt.Sprint(gone) != "[r bob 1]" {
		t.Fatalf("gone %v, want bob only (ada is still on n1)", gone)
	}
	mu.Unlock()
	// n2 was only cut off: it beats again, and its entries count again.
	n1.Update("n2", "", []byte{1})
	eventually(t, snap(n1), "count=2 anonymous=3 [ada:2:[socket.io sse] bob:1:[sse]]")
}
