package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPeerContract drives the Node peer with the real socket.io-client
// (peer/testdata/contract.mjs) and checks each step: join acks, a Socket.IO
// publish acked with an offset and delivered with meta over WebSocket and
// polling, an HTTP publish broadcast the same way, recovery after a dropped
// connection, replay on a join with `after`, room:leave, and a refused
// publish.
func TestPeerContract(t *testing.T) {
	node := requireNode(t)
	url := startPeer(t, node)
	cmd := exec.Command(node, filepath.Join("peer", "testdata", "contract.mjs"), url)
	cmd.Stderr = os.Stderr
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("contract.mjs: %v\n%s", err, outb)
	}
	steps := map[string]map[string]any{}
	for line := range strings.Lines(string(outb)) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("contract.mjs printed %q: %v", line, err)
		}
		steps[m["step"].(string)] = m
	}
	tests := []struct {
		name string
		path string // dotted path into the step's line
		want any
	}{
		{"join ack", "join.a.ok", true},
		{"join ack room", "join.b.room", "r1"},
		{"join ack head", "join.a.head", 0.0},
		{"publish ack", "publish.ack.ok", true},
		{"publish ack offset", "publish.ack.offset", 1.0},
		{"websocket data", "publish.a.data.text", "hi"},
		{"websocket meta room", "publish.a.meta.room", "r1"},
		{"websocket meta offset", "publish.a.meta.offset", 1.0},
		{"recovery token last", "publish.a.token", "string"},
		{"polling meta offset", "publish.b.meta.offset", 1.0},
		{"http status", "http.status", 201.0},
		{"http offset", "http.body.offset", 2.0},
		{"http type", "http.body.type", "chat:message"},
		{"http room", "http.body.room", "r1"},
		{"http delivered", "http.b.meta.offset", 2.0},
		{"http delivered data", "http.b.data.text", "over http"},
		{"recovered", "recover.recovered", true},
		{"same id", "recover.sameId", true},
		{"missed events", "recover.got", []any{3.0, 4.0}},
		{"replay head", "replay.ack.head", 4.0},
		{"replay in order", "replay.offsets", []any{1.0, 2.0, 3.0, 4.0}},
		{"leave ack", "leave.ack.ok", true},
		{"after leave", "leave.sawGone", false},
		{"still in r2", "leave.next.text", "here"},
		{"bad publish", "bad.ack.ok", false},
		{"bad publish code", "bad.ack.error.code", "bad_request"},
		{"still connected", "bad.connected", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := lookup(steps, tc.path)
			if g, w := mustJSON(t, got), mustJSON(t, tc.want); g != w {
				t.Errorf("%s = %s, want %s", tc.path, g, w)
			}
		})
	}
	for _, key := range []string{"id", "time", "from"} {
		if s, _ := lookup(steps, "publish.a.meta."+key).(string); s == "" {
			t.Errorf("meta.%s missing: %v", key, steps["publish"])
		}
	}
	if lookup(steps, "publish.a.meta.id") != lookup(steps, "publish.ack.id") {
		t.Errorf("meta id %v, ack id %v", lookup(steps, "publish.a.meta.id"), lookup(steps, "publish.ack.id"))
	}
}

// TestPeerHTTP checks the peer's HTTP publish (single and batch) and its
// answers to bad requests.
func TestPeerHTTP(t *testing.T) {
	url := startPeer(t, requireNode(t))
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantBody   string // a substring of the answer
	}{
		{"healthz", "GET", "/healthz", "", 200, `"status":"ok"`},
		{"single", "POST", "/api/rooms/lobby/events", `{"type":"chat:message","data":{"n":1}}`, 201, `"offset":1,`},
		{"batch", "POST", "/api/rooms/lobby/events", `[{"type":"a","data":1},{"type":"b","data":2}]`, 201, `{"events":[{"offset":2,`},
		{"batch offsets", "GET", "/healthz", "", 200, `"head":3`},
		{"escaped room", "POST", "/api/rooms/a%2Fb/events", `{"type":"t"}`, 201, `"room":"a/b"`},
		{"bad json", "POST", "/api/rooms/lobby/events", `{"type":`, 400, `"bad_request"`},
		{"no type", "POST", "/api/rooms/lobby/events", `{"data":1}`, 400, "type must be"},
		{"reserved type", "POST", "/api/rooms/lobby/events", `{"type":"disconnect"}`, 400, "reserved"},
		{"one bad in batch", "POST", "/api/rooms/lobby/events", `[{"type":"a"},{}]`, 400, "type must be"},
		{"nothing published by a bad batch", "GET", "/healthz", "", 200, `"head":4`},
		{"rooms", "GET", "/api/rooms", "", 200, `{"rooms":[{"room":"lobby","head":3,"first":1,"count":3},{"room":"a/b","head":4,"first":4,"count":1}],"head":4}`},
		{"rooms is read only", "POST", "/api/rooms", "", 405, "method_not_allowed"},
		{"too large", "POST", "/api/rooms/lobby/events", `{"type":"a","data":"` + strings.Repeat("x", 1_000_001) + `"}`, 413, "too_large"},
		{"get events", "GET", "/api/rooms/lobby/events", "", 405, "method_not_allowed"},
		{"unknown path", "GET", "/nope", "", 404, "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, url+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.wantStatus || !bytes.Contains(body, []byte(tc.wantBody)) {
				t.Errorf("%s %s: %d %s, want %d with %s", tc.method, tc.path, res.StatusCode, body, tc.wantStatus, tc.wantBody)
			}
		})
	}
}

// startPeer runs peer/server.mjs on a free port and returns its base URL;
// the process is killed when the test ends.
func startPeer(t *testing.T, node string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join("peer", "node_modules", "socket.io")); err != nil {
		failOrSkip(t, "bench/peer has no node_modules (npm ci in bench/peer): %v", err)
	}
	cmd := exec.Command(node, filepath.Join("peer", "server.mjs"), "--port", "0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "peer listening on "); ok {
				url <- u
			}
		}
	}()
	select {
	case u := <-url:
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("the peer did not start")
	}
	return ""
}

// requireNode returns the path of node: missing, it fails the test in CI
// (CI=true) and skips it elsewhere.
func requireNode(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		failOrSkip(t, "node not installed: %v", err)
	}
	return p
}

func failOrSkip(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// lookup follows a dotted path ("publish.a.meta.offset") through the steps.
func lookup(steps map[string]map[string]any, path string) any {
	keys := strings.Split(path, ".")
	var v any = steps[keys[0]]
	for _, k := range keys[1:] {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
