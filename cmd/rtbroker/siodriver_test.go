package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// sioDriver runs gateways/socketio/testdata/driver.mjs: real
// socket.io-client sockets (from the repository's node_modules) that the
// test commands one JSON line at a time (the commands are listed at the
// top of the script).
type sioDriver struct {
	t    testing.TB
	in   io.WriteCloser
	out  chan map[string]any
	next int
}

// startSIODriver starts the driver; it is stopped at the end of the test.
// A missing node or socket.io-client fails the test in CI and skips it
// elsewhere.
func startSIODriver(t testing.TB) *sioDriver {
	t.Helper()
	node := requireTool(t, "node")
	requireFile(t, filepath.Join(repoRoot(t), "node_modules", "socket.io-client", "package.json"), "run `npm ci` at the repository root")
	cmd := exec.Command(node, filepath.Join(repoRoot(t), "gateways", "socketio", "testdata", "driver.mjs"))
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
	d := &sioDriver{t: t, in: in, out: make(chan map[string]any, 16)}
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

// try sends a command and returns the reply, whatever its ok says.
func (d *sioDriver) try(op string, args map[string]any) map[string]any {
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
func (d *sioDriver) do(op string, args map[string]any) map[string]any {
	d.t.Helper()
	m := d.try(op, args)
	if m["ok"] != true {
		d.t.Fatalf("driver %s %v: %v", op, args, m["error"])
	}
	return m
}

// connect connects socket name to url (base URL plus namespace) with
// token as auth.token ("" for none); shared puts it on the connection of
// the other shared sockets of that URL's server (one Engine.IO connection,
// several namespaces). It returns the driver's reply, ok or not.
func (d *sioDriver) connect(name, url, token string, shared bool) map[string]any {
	d.t.Helper()
	opts := map[string]any{"forceNew": !shared}
	if token != "" {
		opts["auth"] = map[string]any{"token": token}
	}
	return d.try("connect", map[string]any{"name": name, "url": url, "opts": opts})
}

// emit emits event with arg and returns the ack.
func (d *sioDriver) emit(name, event string, arg map[string]any) map[string]any {
	d.t.Helper()
	m := d.do("emit", map[string]any{"name": name, "event": event, "args": []any{arg}, "ack": true})
	acks, _ := m["ack"].([]any)
	if len(acks) != 1 {
		d.t.Fatalf("%s %s: ack %v", name, event, m)
	}
	ack, _ := acks[0].(map[string]any)
	return ack
}

// sioEvent is one event a driver socket received: its name, data and meta.
type sioEvent struct {
	Event string
	Data  map[string]any
	Meta  struct {
		Room   string `json:"room"`
		Offset uint64 `json:"offset"`
		From   string `json:"from"`
	}
}

// until returns the events socket name receives up to and including the
// one with offset marker (published after the events that matter, so that
// anything sent before it has arrived).
func (d *sioDriver) until(name string, marker uint64) []sioEvent {
	d.t.Helper()
	var out []sioEvent
	for len(out) == 0 || out[len(out)-1].Meta.Offset != marker {
		m := d.do("wait", map[string]any{"name": name, "count": 1})
		var evs []struct {
			Event string            `json:"event"`
			Args  []json.RawMessage `json:"args"`
		}
		b, _ := json.Marshal(m["events"])
		if err := json.Unmarshal(b, &evs); err != nil {
			d.t.Fatal(err)
		}
		for _, e := range evs {
			ev := sioEvent{Event: e.Event}
			if len(e.Args) >= 2 {
				json.Unmarshal(e.Args[0], &ev.Data)
				json.Unmarshal(e.Args[1], &ev.Meta)
			}
			out = append(out, ev)
			if ev.Meta.Offset == marker {
				break
			}
		}
	}
	return out
}

// offsets lists the events' offsets.
func offsets(evs []sioEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Meta.Offset
	}
	return out
}
