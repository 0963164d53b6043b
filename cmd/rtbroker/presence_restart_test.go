package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/gateways/socketio/socketiotest"
)

// watchLine is a line of testdata/presence-watch.mjs.
type watchLine struct {
	Phase     string          `json:"phase"`
	Recovered bool            `json:"recovered"`
	Ack       json.RawMessage `json:"ack"`
	Type      string          `json:"type"`
	User      string          `json:"user"`
	Count     int             `json:"count"`
}

// startWatch runs presence-watch.mjs for user in room and returns its
// lines.
func startWatch(t *testing.T, node, base, token, room string) (*exec.Cmd, <-chan watchLine) {
	t.Helper()
	cmd := exec.Command(node, "testdata/presence-watch.mjs", base, token, room)
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan watchLine, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var l watchLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				lines <- l
			}
		}
	}()
	return cmd, lines
}

// nextWatch returns the next line of phase (and, for presence, of user),
// skipping others.
func nextWatch(t *testing.T, lines <-chan watchLine, phase, user string) watchLine {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the watcher ended before %s %s", phase, user)
			}
			if l.Phase == phase && (user == "" || l.User == user) {
				return l
			}
		case <-timeout:
			t.Fatalf("no %s %s", phase, user)
		}
	}
}

// TestPresenceAfterKillAndRestart runs the real binary: members over
// Socket.IO (a client process that is then killed) and SSE are present;
// the server is killed (kill -9) and restarted on the same data and
// port; a Socket.IO client that recovers its session is present again
// and still receives the presence events it asked for, and nobody who did
// not come back is listed (no ghost members).
func TestPresenceAfterKillAndRestart(t *testing.T) {
	node, _ := socketiotest.NeedNode(t)
	dir := t.TempDir()
	proc, base := startProcess(t, dir, "--jwt-secret", testSecret)
	addr := strings.TrimPrefix(base, "http://")
	bob := presenceToken(t, "bob", true)

	_, watch := startWatch(t, node, base, bob, "general")
	nextWatch(t, watch, "connect", "")
	if l := nextWatch(t, watch, "joined", ""); !strings.Contains(string(l.Ack), `"presence":true`) {
		t.Fatalf("bob's join: %s", l.Ack)
	}
	carol, _ := startWatch(t, node, base, presenceToken(t, "carol", true), "general")
	if l := nextWatch(t, watch, "presence", "carol"); l.Type != "presence:join" || l.Count != 2 {
		t.Fatalf("carol's arrival: %+v", l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sse, err := openSSE(ctx, newStreamClient(), base+"/sse?room=general&token="+presenceToken(t, "dave", true), "")
	if err != nil {
		t.Fatal(err)
	}
	defer sse.close()
	if l := nextWatch(t, watch, "presence", "dave"); l.Type != "presence:join" || l.Count != 3 {
		t.Fatalf("dave's arrival: %+v", l)
	}

	// kill -9 the server and carol's client; start a new server.
	proc.Process.Kill()
	proc.Wait()
	carol.Process.Kill()
	carol.Wait()
	_, base2 := startProcess(t, dir, "--jwt-secret", testSecret, "--addr", addr)
	if base2 != base {
		t.Fatalf("the new server listens on %s, want %s", base2, base)
	}
	if l := nextWatch(t, watch, "connect", ""); !l.Recovered {
		t.Fatal("bob's socket did not recover its session")
	}
	// bob is back (his own presence:join, as he asked for the events);
	// carol, whose client died with the server, and dave, whose stream
	// the server's death ended, are not there.
	if l := nextWatch(t, watch, "presence", "bob"); l.Type != "presence:join" || l.Count != 1 {
		t.Fatalf("bob's own arrival after the restart: %+v", l)
	}
	if got := getPresence(t, base, "general", bob, http.StatusOK).summary(); got != "count=1 anonymous=0 listed=true [bob:1:[socket.io]]" {
		t.Fatalf("presence after the restart: %s", got)
	}
	// The recovered session still asks for presence events.
	erin, err := openSSE(ctx, newStreamClient(), base+"/sse?room=general&token="+presenceToken(t, "erin", true), "")
	if err != nil {
		t.Fatal(err)
	}
	if l := nextWatch(t, watch, "presence", "erin"); l.Type != "presence:join" || l.Count != 2 {
		t.Fatalf("erin's arrival after the restart: %+v", l)
	}
	erin.close()
	if l := nextWatch(t, watch, "presence", "erin"); l.Type != "presence:leave" || l.Count != 1 {
		t.Fatalf("erin's departure: %+v", l)
	}
}
