package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReplayNodePeer runs replay against the Node Socket.IO peer
// (bench/peer/server.mjs, with node from PATH and bench/peer/node_modules):
// the peer fills its room from HTTP batches, reports it in GET /api/rooms,
// and replays it on a room:join with `after`, over WebSocket and polling;
// a second run reuses the stored events.
func TestReplayNodePeer(t *testing.T) {
	url := startPeer(t)
	for _, tr := range []string{"ws", "polling"} {
		code, r, out := runTool(t, "replay", "--url", url, "--target", "node", "--transport", tr,
			"--subs", "2", "--events", "1500", "--size", "64")
		mustPass(t, code, r, out)
		if r.Delivered != 2*1500 || r.Extra["events"].(float64) != 1500 || r.Extra["replay_events_per_s"] == nil {
			t.Fatalf("%s: delivered %d, extra %v\n%s", tr, r.Delivered, r.Extra, out)
		}
	}
}

// startPeer runs bench/peer/server.mjs on a free port and returns its base
// URL; the process is killed when the test ends. node and the peer's
// node_modules are required: in CI (CI=true) their absence fails the test,
// elsewhere it skips it.
func startPeer(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		failOrSkip(t, "node not installed: %v", err)
	}
	dir := filepath.Join("..", "..", "bench", "peer")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io")); err != nil {
		failOrSkip(t, "bench/peer has no node_modules (npm ci in bench/peer): %v", err)
	}
	cmd := exec.Command(node, filepath.Join(dir, "server.mjs"), "--port", "0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	url := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "peer listening on "); ok {
				url <- u
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); <-done; cmd.Wait() })
	select {
	case u := <-url:
		return u
	case <-done:
		t.Fatal("the peer exited before listening")
	case <-time.After(30 * time.Second):
		t.Fatal("the peer did not start")
	}
	return ""
}

// failOrSkip fails the test in CI (CI=true), where every tool must be
// installed, and skips it elsewhere.
func failOrSkip(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}
