package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitFor waits until cond holds, for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var tailLine = regexp.MustCompile(`^(\d+) \S+Z chat:message (\S+) \{"n":(\d+)\}$`)

// TestTail: rtbroker tail on a real server prints the retained events and
// then the live ones, one line each; when the server restarts on the same
// data it resumes after the last offset printed (nothing missed, nothing
// twice); when a server on another log takes the address it reports the
// reset and goes on in the new log; cancelling it (Ctrl-C, SIGTERM) ends it
// without error.
func TestTail(t *testing.T) {
	s := startServer(t, "")
	addr := strings.TrimPrefix(s.URL, "http://")
	c := newClient()
	pub := func(base string, n int) {
		mustPublish(t, c, base, "lobby", "chat:message", fmt.Appendf(nil, `{"n":%d}`, n))
	}
	pub(s.URL, 1)
	pub(s.URL, 2)
	out, errOut := &lockedBuffer{}, &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"tail", "lobby", "--after", "0", "--server", s.URL}, func(string) string { return "" }, out, errOut)
	}()
	lines := func() []string { return strings.Split(strings.TrimSpace(out.String()), "\n") }
	waitFor(t, "the retained events", func() bool { return len(lines()) >= 2 })
	pub(s.URL, 3)
	waitFor(t, "a live event", func() bool { return len(lines()) >= 3 })

	s.Stop(t) // the connection drops; the tail retries
	s2 := startServer(t, s.Data, "--addr", addr)
	pub(s2.URL, 4)
	waitFor(t, "the event after the restart", func() bool { return len(lines()) >= 4 })
	for i, l := range lines() {
		m := tailLine.FindStringSubmatch(l)
		if m == nil || m[1] != fmt.Sprint(i+1) || m[3] != fmt.Sprint(i+1) || !strings.HasPrefix(m[2], "anonymous:") {
			t.Fatalf("line %d: %q, want offset %d with n %d\n%s", i, l, i+1, i+1, out.String())
		}
	}
	if !strings.Contains(errOut.String(), "connection lost") || !strings.Contains(errOut.String(), "reconnecting after offset 3") {
		t.Errorf("stderr does not tell of the reconnection:\n%s", errOut.String())
	}

	s2.Stop(t)
	s3 := startServer(t, "", "--addr", addr) // another log: offset 4 is beyond its head
	waitFor(t, "the reset", func() bool { return strings.Contains(errOut.String(), "reset (epoch_mismatch)") })
	pub(s3.URL, 1)
	waitFor(t, "the first event of the new log", func() bool { return len(lines()) >= 5 })
	if l := lines()[4]; !strings.HasPrefix(l, "1 ") {
		t.Fatalf("after the reset: %q, want offset 1 of the new log", l)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tail ended with %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("tail did not end when cancelled")
	}
}

// TestTailRefused: a stream the server refuses (a secured server without
// a credential) ends the tail with the server's answer, not a retry loop.
func TestTailRefused(t *testing.T) {
	s := startServer(t, "", "--jwt-secret", testSecret)
	_, _, err := cli(t, "tail", "lobby", "--after", "0", "--server", s.URL)
	if err == nil || !strings.Contains(err.Error(), "401 unauthorized") {
		t.Fatalf("tail without a token: %v", err)
	}
}

// TestTailTrimmed: a tail from an offset retention removed is told so on
// stderr and prints what is retained, from where the server resumes.
func TestTailTrimmed(t *testing.T) {
	s := startServer(t, "", "--retention-max-count", "2", "--retention-interval", "50ms")
	c := newClient()
	for i := range 5 {
		mustPublish(t, c, s.URL, "lobby", "chat:message", fmt.Appendf(nil, `{"n":%d}`, i+1))
	}
	waitFor(t, "retention", func() bool {
		var p page
		_, _, err := getJSON(c, s.URL+"/api/rooms/lobby/events?after=0", &p)
		return err == nil && len(p.Events) == 2
	})
	out, errOut := &lockedBuffer{}, &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"tail", "lobby", "--after", "1", "--server", s.URL}, func(string) string { return "" }, out, errOut)
	}()
	waitFor(t, "the retained events", func() bool { return strings.Count(out.String(), "\n") >= 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "reset (trimmed): the server cannot resume after offset 1: retention removed the events after it; continuing after offset 3") {
		t.Fatalf("stderr:\n%s", errOut.String())
	}
	if !strings.HasPrefix(out.String(), "4 ") || !strings.Contains(out.String(), "\n5 ") {
		t.Fatalf("printed:\n%s", out.String())
	}
}

// TestTailSIGTERM: the rtbroker process of a tail ends with status 0 on
// SIGTERM (and Ctrl-C's SIGINT).
func TestTailSIGTERM(t *testing.T) {
	bin, err := binary()
	if err != nil {
		t.Fatalf("build rtbroker: %v", err)
	}
	s := startServer(t, "")
	for _, sig := range []os.Signal{syscall.SIGTERM, os.Interrupt} {
		cmd := exec.Command(bin, "tail", "lobby", "--server", s.URL)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1)
		go func() {
			line, _ := bufio.NewReader(stdout).ReadString('\n')
			lines <- line
			io.Copy(io.Discard, stdout)
		}()
		// The tail starts at the head it reads first: publish until it
		// prints an event, so that it is seen to follow the room.
		var line string
		for deadline := time.Now().Add(30 * time.Second); line == ""; {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatal("the tail printed nothing")
			}
			mustPublish(t, newClient(), s.URL, "lobby", "chat:message", []byte(`{"n":1}`))
			select {
			case line = <-lines:
			case <-time.After(200 * time.Millisecond):
			}
		}
		if !strings.Contains(line, `{"n":1}`) {
			t.Fatalf("tail printed %q", line)
		}
		cmd.Process.Signal(sig)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("after %v: %v, want status 0", sig, err)
		}
	}
}
