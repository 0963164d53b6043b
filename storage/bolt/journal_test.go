package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
)

// crash stops l as a killed process stops: no last checkpoint, the files
// closed as they are.
func (l *Log) crash(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	close(l.stop)
	l.wg.Wait()
	if err := l.jrn.close(); err != nil {
		t.Fatal(err)
	}
	if err := l.db.Close(); err != nil {
		t.Fatal(err)
	}
}

// smallJournal is a journal of the smallest size, whose checkpointer runs
// only when Appends fill it (or Trim, Backup, Close).
var smallJournal = Options{IndexBatch: 1 << 30, IndexInterval: time.Hour, JournalSize: minJournalSize}

// TestJournalWrapsAndRecovers appends through a small journal many times
// its size, so that records wrap around its end (with a marker, and
// without one when no header fits), with state records and idempotency
// keys, and crashes at every stage: after each crash Open applies exactly
// the acknowledged records, reads agree with a model, and a retried key
// names its first event.
func TestJournalWrapsAndRecovers(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rtbroker.db")
	m := &model{byOffset: []*broker.Event{nil}, trimmed: map[string]uint64{}}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	wraps := 0
	for round := range 8 {
		l, err := Open(path, smallJournal)
		if err != nil {
			t.Fatalf("round %d: Open: %v", round, err)
		}
		if err := l.check(); err != nil {
			t.Fatalf("round %d after Open: %v", round, err)
		}
		checkAgainst(t, l, m, fmt.Sprintf("round %d after Open", round))
		for i := range 40 + round*7 { // sizes vary so that ends land everywhere
			room := fmt.Sprintf("r%d", i%3)
			es := entries(1+i%4, room, t0.Add(time.Duration(round)*time.Hour))
			for j := range es {
				es[j].Data = fmt.Appendf(nil, `{"round":%d,"i":%d,"pad":"%*s"}`, round, i, 50+(i*37)%700, "")
				es[j].IdempotencyKey = fmt.Sprintf("k-%d-%d-%d", round, i, j)
			}
			pos := l.jrn.pos
			evs, err := l.AppendWith(ctx, es, []broker.Record{{Key: "last/" + room, Value: fmt.Appendf(nil, "%d-%d", round, i)}})
			if err != nil {
				t.Fatal(err)
			}
			if l.jrn.pos < pos {
				wraps++
			}
			m.add(evs)
			again, err := l.Append(ctx, es[:1])
			if err != nil || again[0].Offset != evs[0].Offset {
				t.Fatalf("retried key: %v, %v; want offset %d", again, err, evs[0].Offset)
			}
		}
		if r, err := l.Get(ctx, "last/r0"); err != nil || string(r.Value) == "" {
			t.Fatalf("Get before the crash: %v %v", r, err)
		}
		l.crash(t)
	}
	if wraps < 3 {
		t.Fatalf("the journal wrapped %d times: the test tests too little", wraps)
	}
	larger := smallJournal
	larger.JournalSize = 2 * minJournalSize // read at its old size, grown once applied
	l, err := Open(path, larger)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	checkAgainst(t, l, m, "last Open")
	if l.jrn.size != larger.JournalSize {
		t.Fatalf("journal of %d bytes after an Open asking for %d", l.jrn.size, larger.JournalSize)
	}
	if r, err := l.Get(ctx, "last/r1"); err != nil || string(r.Value) != "7-88" {
		t.Fatalf(`Get("last/r1") = %q, %v; want "7-88"`, r.Value, err)
	}
}

// TestJournalTornRecord: a record cut short (a crash while the OS wrote
// it) and garbage after the last record end the journal there: Open
// applies what came before, the Appends that follow go where the torn
// record was, and nothing of it comes back at the next Open.
func TestJournalTornRecord(t *testing.T) {
	ctx := context.Background()
	l, path := openTemp(t, smallJournal)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 3 {
		if _, err := l.Append(ctx, entries(2, "a", t0)); err != nil {
			t.Fatal(err)
		}
	}
	lastStart := l.jq[2].end - l.jq[2].size
	l.crash(t)

	f, err := os.OpenFile(journalPath(path), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Cut the third record: its last 10 bytes never reached the disk.
	if _, err := f.WriteAt(make([]byte, 10), lastStart+int64(journalHeaderLen)+20); err != nil {
		t.Fatal(err)
	}
	f.Close()

	l, err = Open(path, smallJournal)
	if err != nil {
		t.Fatal(err)
	}
	if l.Head() != 4 {
		t.Fatalf("Head() = %d after a torn third record, want 4", l.Head())
	}
	evs, err := l.Append(ctx, entries(1, "b", t0))
	if err != nil || evs[0].Offset != 5 {
		t.Fatalf("Append after the torn record: %v, %v; want offset 5", evs, err)
	}
	if l.jq[0].end-l.jq[0].size != lastStart {
		t.Fatalf("the next record went to %d, want %d (where the torn one was)", l.jq[0].end-l.jq[0].size, lastStart)
	}
	l.crash(t)
	l, err = Open(path, smallJournal)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res, err := l.Read(ctx, []string{"a", "b"}, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, e := range res.Events {
		got = append(got, e.Offset)
	}
	if fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Fatalf("events after the second Open: %v, want [1 2 3 4 5]", got)
	}
	if res.Events[4].Room != "b" {
		t.Fatalf("offset 5 is of room %q, want b", res.Events[4].Room)
	}
}

// TestJournalOfAnotherFile: a journal left beside a new bbolt file (the old
// file deleted, its journal not) is not applied to it: its records'
// checksums include the old file's epoch.
func TestJournalOfAnotherFile(t *testing.T) {
	ctx := context.Background()
	l, path := openTemp(t, smallJournal)
	if _, err := l.Append(ctx, entries(3, "a", time.Now())); err != nil {
		t.Fatal(err)
	}
	l.crash(t)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, smallJournal)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Head() != 0 {
		t.Fatalf("Head() = %d: a new file took another file's journal", l.Head())
	}
}

// TestJournalGrowsForABigAppend: an Append larger than the whole journal
// grows it, and survives a crash.
func TestJournalGrowsForABigAppend(t *testing.T) {
	ctx := context.Background()
	l, path := openTemp(t, smallJournal)
	if _, err := l.Append(ctx, entries(5, "a", time.Now())); err != nil {
		t.Fatal(err)
	}
	big := entries(40, "a", time.Now())
	for i := range big {
		big[i].Data = fmt.Appendf(nil, `{"pad":"%*s"}`, 4000, "")
	}
	if _, err := l.Append(ctx, big); err != nil {
		t.Fatal(err)
	}
	if l.jrn.size <= minJournalSize {
		t.Fatalf("journal of %d bytes after a %d-byte Append", l.jrn.size, 40*4000)
	}
	l.crash(t)
	l, err := Open(path, smallJournal)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res, err := l.Read(ctx, []string{"a"}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 45 || len(res.Events[44].Data) < 4000 {
		t.Fatalf("%d events after the crash, want 45 with the big ones whole", len(res.Events))
	}
}

// TestStateNotApplied: Get and Scan see journaled records before the
// checkpointer applies them: new keys, keys replaced and deleted on top of
// applied ones, and expired ones, merged in key order.
func TestStateNotApplied(t *testing.T) {
	ctx := context.Background()
	l, _ := openTemp(t, smallJournal)
	put := func(recs ...broker.Record) {
		t.Helper()
		if err := l.Put(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	v := func(s string) []byte { return []byte(s) }
	put(broker.Record{Key: "s/a", Value: v("1")}, broker.Record{Key: "s/b", Value: v("1")},
		broker.Record{Key: "s/c", Value: v("1")}, broker.Record{Key: "t/x", Value: v("1")})
	if err := l.checkpoint(nil); err != nil {
		t.Fatal(err)
	}
	put(broker.Record{Key: "s/b", Value: v("2")}, broker.Record{Key: "s/c"}, // replace, delete
		broker.Record{Key: "s/aa", Value: v("2")}, broker.Record{Key: "s/d", Value: v("2")}, // new, between and after
		broker.Record{Key: "s/e", Value: v("2"), Expires: time.Now().Add(-time.Second)}) // expired
	scan := func() string {
		var out string
		if err := l.Scan(ctx, "s/", func(r broker.Record) bool { out += r.Key + "=" + string(r.Value) + " "; return true }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	const want = "s/a=1 s/aa=2 s/b=2 s/d=2 "
	for _, stage := range []string{"journaled", "applied"} {
		if got := scan(); got != want {
			t.Errorf("%s: Scan = %q, want %q", stage, got, want)
		}
		if r, err := l.Get(ctx, "s/b"); err != nil || string(r.Value) != "2" {
			t.Errorf("%s: Get(s/b) = %q, %v; want 2", stage, r.Value, err)
		}
		for _, k := range []string{"s/c", "s/e"} {
			if _, err := l.Get(ctx, k); !errors.Is(err, broker.ErrNotFound) {
				t.Errorf("%s: Get(%s): %v, want ErrNotFound", stage, k, err)
			}
		}
		if err := l.checkpoint(nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCheckAndSalvageSeeTheJournal: after a crash, Check counts the
// journaled Appends the file does not hold yet (and finds no problem), and
// Salvage copies their events after the file's.
func TestCheckAndSalvageSeeTheJournal(t *testing.T) {
	ctx := context.Background()
	l, path := openTemp(t, smallJournal)
	if _, err := l.Append(ctx, entries(10, "a", time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := l.checkpoint(nil); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := l.Append(ctx, entries(1, "b", time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	l.crash(t)
	rep, err := Check(path)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Head != 10 || rep.Journaled != 5 || rep.JournalEvents != 5 || rep.JournalHead != 15 {
		t.Fatalf("Check = %+v, want OK, head 10, 5 journaled Appends of 5 events up to 15", rep)
	}
	out := filepath.Join(t.TempDir(), "rtbroker.db")
	srep, err := Salvage(path, out)
	if err != nil {
		t.Fatal(err)
	}
	if srep.Events != 15 || srep.Journaled != 5 || srep.Last != 15 || len(srep.Lost) != 0 {
		t.Fatalf("Salvage = %+v, want 15 events, 5 of them from the journal, nothing lost", srep)
	}
	s, err := Open(out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Read(ctx, []string{"a", "b"}, 0, 100)
	if err != nil || len(res.Events) != 15 || res.Events[14].Room != "b" {
		t.Fatalf("salvaged log: %d events, %v; want 15, the last of room b", len(res.Events), err)
	}
}

// TestStateRecordsWakeTheCheckpointer: a burst of state records (a
// Socket.IO connect storm writes one per socket) is applied when
// stateWake keys wait, without waiting for the interval, so that memory
// does not hold a whole burst twice.
func TestStateRecordsWakeTheCheckpointer(t *testing.T) {
	l, _ := openTemp(t, Options{IndexInterval: time.Hour})
	for i := range stateWake {
		if err := l.Put(context.Background(), []broker.Record{{Key: fmt.Sprintf("s/%05d", i), Value: []byte("v")}}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(l.pend.stateUnder("s/", false)) >= stateWake/2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d state records still not applied 10 s after the burst", len(l.pend.stateUnder("s/", false)))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
