package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSocketIORecoveryAfterKill runs the real binary on a bbolt log, joins
// a room with the real socket.io-client, kills the server with SIGKILL,
// publishes while it is down and after it restarts, and checks that the
// client comes back recovered, with the same socket id, and gets exactly
// the events it missed.
func TestSocketIORecoveryAfterKill(t *testing.T) {
	node := requireTool(t, "node")
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "node_modules", "socket.io-client")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("socket.io-client not installed: %v", err)
		}
		t.Skip("socket.io-client not installed (npm ci)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	proc, base := startProcess(t, dir, "--addr", addr)
	c := newClient()

	cmd := exec.Command(node, "testdata/sio-recover.mjs", base)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { io.WriteString(stdin, "quit\n"); cmd.Wait() }()
	lines := make(chan map[string]any, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			json.Unmarshal(sc.Bytes(), &m)
			lines <- m
		}
		close(lines)
	}()
	next := func(phase string) map[string]any {
		t.Helper()
		select {
		case m := <-lines:
			if m["phase"] != phase {
				t.Fatalf("client said %v, want phase %s", m, phase)
			}
			return m
		case <-time.After(30 * time.Second):
			t.Fatalf("client: no %s", phase)
		}
		return nil
	}
	joined := next("joined")
	var want []uint64
	want = append(want, mustPublish(t, c, base, "recover", "chat:message", []byte(`{"n":1}`)).Offset)
	io.WriteString(stdin, "expect 1\n")
	if got := next("events"); fmt.Sprint(got["offsets"]) != fmt.Sprint([]float64{float64(want[0])}) {
		t.Fatalf("before the kill: %v, want %v", got, want)
	}

	proc.Process.Signal(syscall.SIGKILL)
	proc.Wait()
	proc, base = startProcess(t, dir, "--addr", addr)
	want = want[:0]
	for i := range 3 {
		want = append(want, mustPublish(t, c, base, "recover", "chat:message", fmt.Appendf(nil, `{"n":%d}`, i+2)).Offset)
	}
	again := next("reconnected")
	if again["recovered"] != true || again["sid"] != joined["sid"] {
		t.Fatalf("after restart: %v, want recovered with sid %v", again, joined["sid"])
	}
	want = append(want, mustPublish(t, c, base, "recover", "chat:message", []byte(`{"n":"end"}`)).Offset)
	io.WriteString(stdin, "expect 4\n")
	got := next("events")
	var gotOffs []uint64
	for _, o := range got["offsets"].([]any) {
		gotOffs = append(gotOffs, uint64(o.(float64)))
	}
	if fmt.Sprint(gotOffs) != fmt.Sprint(want) {
		t.Fatalf("after recovery got %v, want exactly %v", gotOffs, want)
	}
}
