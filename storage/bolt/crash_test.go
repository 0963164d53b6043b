package bolt

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// crashEnv names the file a crash child appends to; set only in the child.
const crashEnv = "RTBROKER_BOLT_CRASH_CHILD"

// TestCrashKeepsAcknowledgedEvents kills (SIGKILL) a process that appends
// in a loop and then checks that every Append it had seen return is in the
// file, and that the head and room metadata agree with the events.
func TestCrashKeepsAcknowledgedEvents(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	path := filepath.Join(t.TempDir(), "rtbroker.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKeepsAcknowledgedEvents$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked uint64
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		off, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			continue // test framework output
		}
		acked = off
		if acked >= 300 && !killed {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("child exited before it was killed, after offset %d", acked)
	}

	l, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open after crash: %v", err)
	}
	defer l.Close()
	if err := l.check(); err != nil {
		t.Fatalf("after crash: %v", err)
	}
	if l.Head() < acked {
		t.Fatalf("Head() = %d after crash, but offset %d was acknowledged", l.Head(), acked)
	}
	offs := readOffsets(t, l, []string{"r0", "r1", "r2"})
	if uint64(len(offs)) != l.Head() {
		t.Fatalf("%d events for head %d", len(offs), l.Head())
	}
	for i, off := range offs {
		if off != uint64(i+1) {
			t.Fatalf("event %d has offset %d", i, off)
		}
	}
	t.Logf("acknowledged %d, recovered %d", acked, l.Head())
}

// crashChild appends batches until killed, printing the last offset of
// each batch after Append returned.
func crashChild(path string) {
	l, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		batch := entries(1+i%5, fmt.Sprintf("r%d", i%3), time.Now())
		evs, err := l.Append(context.Background(), batch)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stdout, evs[len(evs)-1].Offset)
	}
}

// readOffsets returns the offsets of every event of rooms.
func readOffsets(t *testing.T, l *Log, rooms []string) []uint64 {
	t.Helper()
	var out []uint64
	var after uint64
	for {
		res, err := l.Read(context.Background(), rooms, after, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.Events {
			out = append(out, e.Offset)
		}
		if len(res.Events) == 0 {
			return out
		}
		after = res.Through
	}
}
