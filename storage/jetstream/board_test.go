package jetstream_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/storage/jetstream"
)

// boardWatch records what a Board's watcher reports, as "node room value"
// lines ("-" for a deletion).
type boardWatch struct {
	mu  sync.Mutex
	got map[string]bool
}

func (w *boardWatch) fn(node, room string, value []byte) {
	v := string(value)
	if value == nil {
		v = "-"
	}
	w.mu.Lock()
	w.got[fmt.Sprintf("%s %q %s", node, room, v)] = true
	w.mu.Unlock()
}

func (w *boardWatch) wait(t *testing.T, line string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		w.mu.Lock()
		ok := w.got[line]
		w.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %v", line, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBoard: a node's entries and heartbeat reach the other nodes'
// watchers; a clean Close deletes them; a node whose connection dies
// (no Close) is reported gone when its heartbeat's TTL runs out.
func TestBoard(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	open := func() *jetstream.Board {
		b, err := jetstream.OpenBoard(ctx, connect(t, s), jetstream.BoardConfig{NodeTTL: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	w := &boardWatch{got: map[string]bool{}}
	watcher := open()
	if err := watcher.Start(ctx, func(string) []byte { return nil }, w.fn); err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()

	clean := open()
	if err := clean.Start(ctx, func(room string) []byte { return []byte("members of " + room) }, func(string, string, []byte) {}); err != nil {
		t.Fatal(err)
	}
	clean.Changed("chat.lobby")
	w.wait(t, clean.Node()+` "" `+"\x01", 10*time.Second)
	w.wait(t, clean.Node()+` "chat.lobby" members of chat.lobby`, 10*time.Second)
	clean.Close()
	w.wait(t, clean.Node()+` "" -`, 10*time.Second)
	w.wait(t, clean.Node()+` "chat.lobby" -`, 10*time.Second)

	nc := connect(t, s)
	quiet := slog.New(slog.DiscardHandler) // its heartbeats fail once the connection is gone
	dies, err := jetstream.OpenBoard(ctx, nc, jetstream.BoardConfig{NodeTTL: 3 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := dies.Start(ctx, func(string) []byte { return []byte("x") }, func(string, string, []byte) {}); err != nil {
		t.Fatal(err)
	}
	w.wait(t, dies.Node()+` "" `+"\x01", 10*time.Second)
	nc.Close() // as if the process were killed: nothing is deleted
	start := time.Now()
	w.wait(t, dies.Node()+` "" -`, 20*time.Second)
	t.Logf("a dead node's heartbeat went %v after its connection closed (NodeTTL 3s)", time.Since(start).Round(100*time.Millisecond))
	dies.Close() // stops its goroutines; its connection is gone
}
