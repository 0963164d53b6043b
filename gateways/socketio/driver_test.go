package socketio_test

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

// needNode returns the node binary and the repository root that holds
// node_modules. A missing tool fails the test in CI (CI=true) and skips it
// elsewhere.
func needNode(t testing.TB) (node, root string) {
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
	root, err = filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "socket.io-client", "package.json")); err != nil {
		miss("socket.io-client is not installed (run npm ci at the repository root): %v", err)
	}
	return node, root
}

// driver runs testdata/driver.mjs: real socket.io-client sockets that the
// test commands one JSON line at a time.
type driver struct {
	t    testing.TB
	in   io.WriteCloser
	out  chan map[string]any
	next int
}

func startDriver(t testing.TB) *driver {
	t.Helper()
	node, _ := needNode(t)
	cmd := exec.Command(node, "testdata/driver.mjs")
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
	d := &driver{t: t, in: in, out: make(chan map[string]any, 16)}
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

// try sends a command and returns the reply, whatever ok says.
func (d *driver) try(op string, args map[string]any) map[string]any {
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

// do sends a command and fails the test unless it succeeded.
func (d *driver) do(op string, args map[string]any) map[string]any {
	d.t.Helper()
	m := d.try(op, args)
	if m["ok"] != true {
		d.t.Fatalf("driver %s %v: %v", op, args, m["error"])
	}
	return m
}

// receivedEvent is one event a driver socket received.
type receivedEvent struct {
	Event string            `json:"event"`
	Args  []json.RawMessage `json:"args"`
}

// waitEvents waits until socket name has received n events and returns them.
func (d *driver) waitEvents(name string, n int) []receivedEvent {
	d.t.Helper()
	m := d.do("wait", map[string]any{"name": name, "count": n})
	var evs []receivedEvent
	b, _ := json.Marshal(m["events"])
	if err := json.Unmarshal(b, &evs); err != nil {
		d.t.Fatal(err)
	}
	return evs
}

func (e receivedEvent) String() string { return fmt.Sprintf("%s%s", e.Event, e.Args) }
