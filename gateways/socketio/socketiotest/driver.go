// Package socketiotest drives the real socket.io-client (the npm package,
// run by Node) from Go tests: a test starts a Driver, which runs
// driver.mjs, and commands named sockets one JSON line at a time
// (connect, emit, wait for events, disconnect…; driver.mjs lists the
// commands). Tests of the Socket.IO gateway and the end-to-end tests of
// cmd/rtbroker share it.
package socketiotest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// NeedNode returns the node binary and the module root, which holds
// node_modules with socket.io-client. When either is missing the test
// fails in CI (CI=true) and is skipped elsewhere.
func NeedNode(t testing.TB) (node, root string) {
	t.Helper()
	miss := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		miss("node is required: %v", err)
	}
	root, err = moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "socket.io-client", "package.json")); err != nil {
		miss("socket.io-client is not installed (run npm ci at the repository root): %v", err)
	}
	return node, root
}

// moduleRoot is the nearest directory at or above the working directory
// (the tested package's) that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Driver runs driver.mjs: real socket.io-client sockets that the test
// commands one JSON line at a time. It is used by one goroutine.
type Driver struct {
	t    testing.TB
	in   io.WriteCloser
	out  chan map[string]any
	next int
}

// Start runs a driver for the rest of the test. env adds "NAME=value"
// variables to Node's environment (NODE_EXTRA_CA_CERTS, say).
func Start(t testing.TB, env ...string) *Driver {
	t.Helper()
	node, root := NeedNode(t)
	cmd := exec.Command(node, filepath.Join(root, "gateways", "socketio", "socketiotest", "driver.mjs"))
	cmd.Env = append(os.Environ(), env...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &Driver{t: t, in: in, out: make(chan map[string]any, 16)}
	go func() {
		defer close(d.out)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = map[string]any{"ok": false, "error": "bad driver output: " + sc.Text()}
			}
			d.out <- m
		}
	}()
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return d
}

// Try sends a command and returns the reply, whatever its ok says.
func (d *Driver) Try(op string, args map[string]any) map[string]any {
	d.t.Helper()
	d.next++
	cmd := map[string]any{"id": d.next, "op": op}
	for k, v := range args {
		cmd[k] = v
	}
	b, _ := json.Marshal(cmd)
	if _, err := d.in.Write(append(b, '\n')); err != nil {
		d.t.Fatalf("driver %s: %v", op, err)
	}
	select {
	case m, ok := <-d.out:
		if !ok {
			d.t.Fatalf("driver exited during %s", op)
		}
		if id, _ := m["id"].(float64); int(id) != d.next {
			d.t.Fatalf("driver answered %v to command %d (%s)", m, d.next, op)
		}
		return m
	case <-time.After(60 * time.Second):
		d.t.Fatalf("driver: no answer to %s", op)
	}
	return nil
}

// Do sends a command and fails the test unless it succeeded.
func (d *Driver) Do(op string, args map[string]any) map[string]any {
	d.t.Helper()
	m := d.Try(op, args)
	if m["ok"] != true {
		d.t.Fatalf("driver %s %v: %v", op, args, m["error"])
	}
	return m
}

// Event is one event a driver socket received.
type Event struct {
	Event string            `json:"event"`
	Args  []json.RawMessage `json:"args"`
}

func (e Event) String() string { return fmt.Sprintf("%s%s", e.Event, e.Args) }

// WaitEvents waits until socket name has received n events and returns
// every event received (then forgotten by the driver).
func (d *Driver) WaitEvents(name string, n int) []Event {
	d.t.Helper()
	m := d.Do("wait", map[string]any{"name": name, "count": n})
	var evs []Event
	b, _ := json.Marshal(m["events"])
	if err := json.Unmarshal(b, &evs); err != nil {
		d.t.Fatal(err)
	}
	return evs
}

// Ack returns the first argument of the acknowledgement in an emit reply.
func Ack(t testing.TB, reply map[string]any) map[string]any {
	t.Helper()
	args, _ := reply["ack"].([]any)
	if len(args) == 0 {
		t.Fatalf("no ack in %v", reply)
	}
	a, _ := args[0].(map[string]any)
	return a
}
