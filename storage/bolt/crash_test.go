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

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
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
	var acked uint64
	path := crashRun(t, "TestCrashKeepsAcknowledgedEvents", crashEnv, ackedOffsets(&acked))

	l := openAfterCrash(t, path, Options{})
	defer l.Close()
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

// crashRun runs test name again in a child process, with env naming a new
// data file, hands each line the child prints to line, and kills the child
// (SIGKILL) once line returns true. It fails the test when the child ends
// before it is killed, and returns the file's path.
func crashRun(t *testing.T, name, env string, line func(string) (kill bool)) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	path := filepath.Join(t.TempDir(), "rtbroker.db")
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$")
	cmd.Env = append(os.Environ(), env+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		if line(sc.Text()) && !killed {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("child exited before it was killed")
	}
	return path
}

// openAfterCrash opens the file a killed child left and checks its
// bookkeeping.
func openAfterCrash(t *testing.T, path string, opts Options) *Log {
	t.Helper()
	l, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open after crash: %v", err)
	}
	if err := l.check(); err != nil {
		l.Close()
		t.Fatalf("after crash: %v", err)
	}
	return l
}

// ackedOffsets returns a line function for crashRun that reads one
// acknowledged offset a line into acked and kills the child from 300 on.
func ackedOffsets(acked *uint64) func(string) bool {
	return func(text string) bool {
		off, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return false // test framework output
		}
		*acked = off
		return off >= 300
	}
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

// lazyCrashEnv names the file a lazy crash child appends to; set only in
// the child.
const lazyCrashEnv = "RTBROKER_BOLT_LAZY_CRASH_CHILD"

// TestCrashBeforeCheckpoint kills (SIGKILL) a process whose checkpointer
// never runs by itself: after a Trim (which applies the journal and
// removes) it keeps appending, so the bbolt file has an applied, trimmed
// prefix and the journal the acknowledged rest when it dies. Reopening
// must apply the journal: every acknowledged event that retention kept is
// read back, in its room, Rooms agrees, and after Close everything is
// applied.
func TestCrashBeforeCheckpoint(t *testing.T) {
	if path := os.Getenv(lazyCrashEnv); path != "" {
		lazyCrashChild(path)
		return
	}
	acked := map[uint64]string{} // offset → room
	var last uint64
	path := crashRun(t, "TestCrashBeforeCheckpoint", lazyCrashEnv, func(text string) bool {
		var off uint64
		var room string
		if _, err := fmt.Sscanf(text, "%d %s", &off, &room); err != nil {
			return false // test framework output
		}
		acked[off] = room
		last = max(last, off)
		return last >= 600
	})

	stored := storedHead(t, path)
	if stored >= last {
		t.Fatalf("the file holds every acknowledged event (head %d, acknowledged %d): the test tests nothing", stored, last)
	}
	l, err := Open(path, lazyOptions)
	if err != nil {
		t.Fatalf("Open after crash: %v", err)
	}
	t.Logf("acknowledged %d, in the file %d, recovered head %d", last, stored, l.Head())
	checkRecovered(t, l, acked, last)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(path, lazyOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if u := l.pend.unindexed(); u != 0 {
		t.Fatalf("%d events unindexed after Close", u)
	}
	checkRecovered(t, l, acked, last)
}

// storedHead returns the head that the bbolt file at path holds, without
// the journal.
func storedHead(t *testing.T, path string) uint64 {
	t.Helper()
	var head uint64
	onFile(t, path, true, func(tx *bbolt.Tx) (err error) { head, err = readHead(tx); return err })
	return head
}

// checkRecovered checks l against the acknowledged events (offset → room,
// up to last): bookkeeping, every retained acknowledged event in its room,
// offsets unique, and Rooms counts matching the reads.
func checkRecovered(t *testing.T, l *Log, acked map[uint64]string, last uint64) {
	t.Helper()
	if err := l.check(); err != nil {
		t.Fatal(err)
	}
	if l.Head() < last {
		t.Fatalf("Head() = %d, but offset %d was acknowledged", l.Head(), last)
	}
	infos, err := l.Rooms(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	trimmed := map[string]uint64{}
	seen := map[uint64]string{}
	for _, ri := range infos {
		trimmed[ri.Name] = ri.Trimmed
		offs := readOffsets(t, l, []string{ri.Name})
		if uint64(len(offs)) != ri.Count {
			t.Fatalf("room %s: read %d events, Rooms says %d", ri.Name, len(offs), ri.Count)
		}
		for _, off := range offs {
			if seen[off] != "" {
				t.Fatalf("offset %d in rooms %s and %s", off, seen[off], ri.Name)
			}
			seen[off] = ri.Name
		}
	}
	for off := uint64(1); off <= last; off++ {
		room := acked[off]
		if room == "" {
			t.Fatalf("offset %d was not acknowledged", off)
		}
		if off > trimmed[room] && seen[off] != room {
			t.Fatalf("acknowledged offset %d of room %s read in room %q", off, room, seen[off])
		}
	}
}

// lazyCrashChild appends batches, trims once after 200 events (indexing
// everything so far), and goes on appending until killed, printing
// "offset room" for each event after its Append returned.
func lazyCrashChild(path string) {
	l, err := Open(path, lazyOptions)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	trimmed := false
	for i := 0; ; i++ {
		batch := entries(1+i%5, "", time.Now())
		for j := range batch {
			batch[j].Room = fmt.Sprintf("r%d", (i+j)%4)
		}
		evs, err := l.Append(ctx, batch)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for _, e := range evs {
			fmt.Fprintln(os.Stdout, e.Offset, e.Room)
		}
		if !trimmed && evs[len(evs)-1].Offset >= 200 {
			if _, err := l.Trim(ctx, broker.Retention{MaxCount: 20}, time.Now()); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			trimmed = true
		}
	}
}

// stateCrashEnv names the file a state crash child appends to; set only
// in the child.
const stateCrashEnv = "RTBROKER_BOLT_STATE_CRASH_CHILD"

// stateCrashBatch is the size of batch i of the state crash child.
func stateCrashBatch(i int) int { return 1 + i%5 }

// TestCrashKeepsRecordsWithEvents kills (SIGKILL) a process that commits
// batches of events with state records in the same transaction
// (AppendWith): each batch writes the record "batch/<last offset>" (which
// expires, so the expiry index is written too) and overwrites "last" with
// its last offset. After the crash, every acknowledged batch's record is
// there, and the records match the events exactly: "last" is the head, and
// a batch's record exists if and only if its events do — nothing
// half-written.
func TestCrashKeepsRecordsWithEvents(t *testing.T) {
	if path := os.Getenv(stateCrashEnv); path != "" {
		stateCrashChild(path)
		return
	}
	var acked uint64
	path := crashRun(t, "TestCrashKeepsRecordsWithEvents", stateCrashEnv, ackedOffsets(&acked))

	l := openAfterCrash(t, path, Options{})
	defer l.Close()
	head := l.Head()
	if head < acked {
		t.Fatalf("Head() = %d after crash, but offset %d was acknowledged", head, acked)
	}
	ctx := context.Background()
	last, err := l.Get(ctx, "last")
	if err != nil || string(last.Value) != strconv.FormatUint(head, 10) {
		t.Fatalf(`record "last" = %q, %v; want the head %d`, last.Value, err, head)
	}
	var want []string
	var off uint64
	for i := 0; off+uint64(stateCrashBatch(i)) <= head; i++ {
		off += uint64(stateCrashBatch(i))
		want = append(want, fmt.Sprintf("batch/%020d", off))
	}
	if off != head {
		t.Fatalf("head %d is not the end of a batch (the last whole batch ends at %d)", head, off)
	}
	var got []string
	err = l.Scan(ctx, "batch/", func(r broker.Record) bool { got = append(got, r.Key); return true })
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("records %d, want one per committed batch (%d)", len(got), len(want))
	}
	if n := len(readOffsets(t, l, []string{"r0", "r1", "r2"})); uint64(n) != head {
		t.Fatalf("%d events for head %d", n, head)
	}
	t.Logf("acknowledged %d, recovered %d events and %d batch records", acked, head, len(got))
}

// stateCrashChild commits batches of events with their records until
// killed, printing the last offset of each batch after AppendWith
// returned.
func stateCrashChild(path string) {
	l, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		batch := entries(stateCrashBatch(i), fmt.Sprintf("r%d", i%3), time.Now())
		lastOff := l.Head() + uint64(len(batch))
		recs := []broker.Record{
			{Key: fmt.Sprintf("batch/%020d", lastOff), Value: []byte("x"), Expires: time.Now().Add(time.Hour)},
			{Key: "last", Value: []byte(strconv.FormatUint(lastOff, 10))},
		}
		evs, err := l.AppendWith(context.Background(), batch, recs)
		if err != nil || evs[len(evs)-1].Offset != lastOff {
			fmt.Fprintln(os.Stderr, "append", err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stdout, lastOff)
	}
}
