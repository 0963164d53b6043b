package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// typingEvents waits for socket name's next n events and returns them as
// "type from reason" lines (reason: data.reason, if any).
func typingEvents(t *testing.T, d *sioDriver, name string, n int) []string {
	t.Helper()
	var out []string
	for _, ev := range d.WaitEvents(name, n) {
		var data struct{ Reason string }
		var meta struct {
			From      string
			Ephemeral bool
			Offset    uint64
		}
		if len(ev.Args) >= 2 {
			json.Unmarshal(ev.Args[0], &data)
			json.Unmarshal(ev.Args[1], &meta)
		}
		if strings.HasPrefix(ev.Event, "typing:") && (!meta.Ephemeral || meta.Offset != 0) {
			t.Fatalf("%s is not ephemeral: %v", ev.Event, ev)
		}
		out = append(out, strings.TrimSpace(ev.Event+" "+meta.From+" "+data.Reason))
	}
	return out
}

// TestTypingSocketIO: typing:start and typing:stop reach the room's other
// sockets, never logged and never echoed to the typist; the server sends
// typing:stop for a typist that goes silent (Socket.IO, and an ephemeral
// typing:start published over HTTP) and for one whose client process is
// killed.
func TestTypingSocketIO(t *testing.T) {
	t.Run("silent typists are stopped", func(t *testing.T) {
		s := startServer(t, "", "--jwt-secret", testSecret, "--typing-timeout", "1s")
		d := startSIODriver(t)
		for _, u := range []string{"ada", "bob"} {
			if r := d.connect(u, s.URL, mint(t, u, nil), false); r["ok"] != true {
				t.Fatalf("connect %s: %v", u, r)
			}
			if ack := d.emit(u, "room:join", map[string]any{"room": "general"}); ack["ok"] != true {
				t.Fatalf("join %s: %v", u, ack)
			}
		}
		ack := d.emit("ada", "typing:start", map[string]any{"room": "general"})
		if ack["ok"] != true || ack["ephemeral"] != true {
			t.Fatalf("typing:start ack %v", ack)
		}
		if got := typingEvents(t, d, "bob", 1); got[0] != "typing:start ada" {
			t.Fatalf("bob got %v, want ada's typing:start", got)
		}
		// ada says nothing more: the server stops her.
		if got := typingEvents(t, d, "bob", 1); got[0] != "typing:stop ada timeout" {
			t.Fatalf("bob got %v, want the server's typing:stop for ada", got)
		}
		// A typist that stops itself is not stopped again by the server.
		d.emit("ada", "typing:start", map[string]any{"room": "general"})
		d.emit("ada", "typing:stop", map[string]any{"room": "general"})
		if got := typingEvents(t, d, "bob", 2); got[0] != "typing:start ada" || got[1] != "typing:stop ada" {
			t.Fatalf("bob got %v, want ada's start and her own stop", got)
		}
		// Over HTTP, an ephemeral typing:start expires the same way.
		carol := mint(t, "carol", nil)
		if st, body, _ := (cred{bearer: carol}).do(t, "POST", s.URL+"/api/rooms/general/events", `{"type":"typing:start","data":{},"ephemeral":true}`); st != 202 {
			t.Fatalf("HTTP typing:start: %d %s", st, body)
		}
		if got := typingEvents(t, d, "bob", 2); got[0] != "typing:start carol" || got[1] != "typing:stop carol timeout" {
			t.Fatalf("bob got %v, want carol's start and the server's stop", got)
		}
		// Nothing was logged (the marker is offset 1), and ada was never
		// sent her own typing events: only carol's, then the marker.
		marker := d.emit("bob", "chat:message", map[string]any{"room": "general", "text": "marker"})
		var got []string
		for _, ev := range d.until("ada", uint64(marker["offset"].(float64))) {
			got = append(got, ev.Event+" "+ev.Meta.From+" "+strings.Trim(string(mustJSON(ev.Data)), "{}"))
		}
		want := []string{`typing:start carol `, `typing:stop carol "reason":"timeout"`, `chat:message bob "text":"marker"`}
		if strings.Join(got, "|") != strings.Join(want, "|") || marker["offset"] != float64(1) {
			t.Fatalf("ada got %q (marker %v), want %q", got, marker, want)
		}
	})

	t.Run("a killed client's typing stops", func(t *testing.T) {
		// The timeout is long: only the disconnect can stop the typist.
		s := startServer(t, "", "--jwt-secret", testSecret, "--typing-timeout", "1h")
		d := startSIODriver(t)
		if r := d.connect("bob", s.URL, mint(t, "bob", nil), false); r["ok"] != true {
			t.Fatalf("connect: %v", r)
		}
		d.emit("bob", "room:join", map[string]any{"room": "general"})
		kill := typistProcess(t, s.URL, mint(t, "ada", nil))
		if got := typingEvents(t, d, "bob", 1); got[0] != "typing:start ada" {
			t.Fatalf("bob got %v, want ada's typing:start", got)
		}
		kill()
		if got := typingEvents(t, d, "bob", 1); got[0] != "typing:stop ada disconnect" {
			t.Fatalf("bob got %v, want the server's typing:stop for ada", got)
		}
	})
}

// typistProcess runs a socket.io-client in a Node process of its own that
// connects with token, joins general, sends typing:start and waits; it
// returns once the start was acked, with a func that SIGKILLs the process
// (no DISCONNECT packet, no close frame: the socket just disappears).
func typistProcess(t *testing.T, base, token string) (kill func()) {
	t.Helper()
	node := requireTool(t, "node")
	script := `
import { io } from "socket.io-client";
const socket = io(process.argv[1], { auth: { token: process.argv[2] }, transports: ["websocket"], reconnection: false });
socket.on("connect", async () => {
  await socket.emitWithAck("room:join", { room: "general" });
  const ack = await socket.emitWithAck("typing:start", { room: "general" });
  console.log(JSON.stringify(ack));
});
socket.on("connect_error", (err) => { console.log("connect_error " + err.message); process.exit(1); });
`
	cmd := exec.Command(node, "--input-type=module", "-e", script, base, token)
	cmd.Dir = filepath.Clean(repoRoot(t))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Scan()
		line <- sc.Text()
	}()
	select {
	case l := <-line:
		if !strings.Contains(l, `"ok":true`) {
			t.Fatalf("typist process: %s", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("typist process did not start typing")
	}
	return func() {
		cmd.Process.Kill()
		cmd.Wait()
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
