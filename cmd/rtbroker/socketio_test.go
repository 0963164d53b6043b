package main

import (
	"bufio"
	"context"
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

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/storage/bolt"
)

// TestSocketIORecoveryAfterKill runs the real binary on a bbolt log, joins
// a room with the real socket.io-client, lets other clients come and go,
// kills the server with SIGKILL, publishes while it is down and after it
// restarts, and checks that the client comes back recovered, with the
// same socket id, and gets exactly the events it missed — also with event
// retention keeping only 10 events a room (session records are not
// events: retention never touches them), and with 10,000 other session
// records in the store (recovery is a point lookup; start-up reads none of
// them). The time from restart to recovery is logged for each.
func TestSocketIORecoveryAfterKill(t *testing.T) {
	node := requireTool(t, "node")
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "node_modules", "socket.io-client")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("socket.io-client not installed: %v", err)
		}
		t.Skip("socket.io-client not installed (npm ci)")
	}
	tests := []struct {
		name     string
		args     []string
		others   int // clients that connect, join and leave before the kill
		sessions int // session records added to the stopped server's store
	}{
		{name: "plain"},
		{name: "retention 10 a room", args: []string{"--retention-max-count", "10", "--retention-interval", "50ms"}, others: 30},
		{name: "10 other sessions", sessions: 10},
		{name: "10000 other sessions", sessions: 10_000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recoverAfterKill(t, node, tc.args, tc.others, tc.sessions)
		})
	}
}

func recoverAfterKill(t *testing.T, node string, args []string, others, sessions int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	args = append([]string{"--addr", addr}, args...)
	proc, base := startProcess(t, dir, args...)
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
	if others > 0 {
		d := startSIODriver(t)
		for i := range others {
			name := fmt.Sprint("other", i)
			d.connect(name, base, "", false)
			d.emit(name, "room:join", map[string]any{"room": fmt.Sprint("other", i)})
			d.emit(name, "room:leave", map[string]any{"room": fmt.Sprint("other", i)})
			d.do("disconnect", map[string]any{"name": name})
		}
		for i := range 20 { // more than retention keeps, in other rooms
			mustPublish(t, c, base, fmt.Sprint("busy", i%2), "chat:message", []byte(`{}`))
		}
	}

	proc.Process.Signal(syscall.SIGKILL)
	proc.Wait()
	if sessions > 0 {
		addSessionRecords(t, dir, sessions)
	}
	restarted := time.Now()
	proc, base = startProcess(t, dir, args...)
	want = want[:0]
	for i := range 3 {
		want = append(want, mustPublish(t, c, base, "recover", "chat:message", fmt.Appendf(nil, `{"n":%d}`, i+2)).Offset)
	}
	// A binary event among the missed ones comes back as a Buffer.
	want = append(want, mustPublish(t, c, base, "recover", "chat:message", []byte(`{"bin":{"$binary":"AAEC/w=="}}`)).Offset)
	again := next("reconnected")
	t.Logf("recovered %v after the restart began (%d other session records)", time.Since(restarted).Round(time.Millisecond), sessions)
	if again["recovered"] != true || again["sid"] != joined["sid"] {
		t.Fatalf("after restart: %v, want recovered with sid %v", again, joined["sid"])
	}
	want = append(want, mustPublish(t, c, base, "recover", "chat:message", []byte(`{"n":"end"}`)).Offset)
	io.WriteString(stdin, "expect 5\n")
	got := next("events")
	if fmt.Sprint(got["bins"]) != "[AAEC/w==]" {
		t.Fatalf("binary event after recovery: %v, want one Buffer AAEC/w==", got["bins"])
	}
	var gotOffs []uint64
	for _, o := range got["offsets"].([]any) {
		gotOffs = append(gotOffs, uint64(o.(float64)))
	}
	if fmt.Sprint(gotOffs) != fmt.Sprint(want) {
		t.Fatalf("after recovery got %v, want exactly %v", gotOffs, want)
	}
}

// addSessionRecords writes n Socket.IO session records, as n clients that
// connected would have, into the data file of a stopped server.
func addSessionRecords(t *testing.T, dir string, n int) {
	t.Helper()
	l, err := bolt.Open(filepath.Join(dir, dbFile), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	exp := time.Now().Add(time.Hour)
	for i := 0; i < n; i += 1000 {
		recs := make([]broker.Record, 0, 1000)
		for j := i; j < min(n, i+1000); j++ {
			pid := fmt.Sprintf("%032x", j)
			val := fmt.Appendf(nil, `{"pid":%q,"nsp":"/","sid":"s%d","epoch":%q,"gen":1,"live":0,"rooms":{"room%d":%d}}`, pid, j, l.Epoch(), j, j)
			recs = append(recs, broker.Record{Key: "sio/session/" + pid, Value: val, Expires: exp})
		}
		if err := l.Put(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
}
