package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/storage/bolt"
)

// cli runs an rtbroker subcommand in-process and returns its stdout and
// stderr.
func cli(t testing.TB, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := run(ctx, args, func(string) string { return "" }, &out, &errOut)
	return out.String(), errOut.String(), err
}

// mustCLI runs an rtbroker subcommand and fails the test when it fails.
func mustCLI(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := cli(t, args...)
	if err != nil {
		t.Fatalf("rtbroker %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// seeded is a secured server with events in two rooms (one with bytes,
// escapes and unicode in its data), an edit and a delete, and read
// positions, and what its folded view of chat:a shows.
type seeded struct {
	srv    *testServer
	folded []string // chat:a's folded view, as alice reads it
}

func seedServer(t *testing.T) *seeded {
	t.Helper()
	s := startServer(t, "", msgServerFlags...)
	alice, bob := cred{bearer: chatToken(t, "alice", "chat:*")}, cred{bearer: chatToken(t, "bob", "chat:*")}
	var a []wireEvent
	for i := range 4 {
		a = append(a, pubText(t, alice, s.URL, "chat:a", fmt.Sprintf("a%d", i)))
		pubText(t, bob, s.URL, "chat:b", fmt.Sprintf("b%d", i))
	}
	odd := `{"t":"<a&b>","u":"é\u2028\"q\"","n":1.50,"bin":{"$binary":"AAEC/w=="},"nil":null}`
	if st, body, _ := (cred{apiKey: testAPIKey}).do(t, "POST", s.URL+"/api/rooms/chat:a/events", `{"type":"odd:data","data":`+odd+`}`); st != 201 {
		t.Fatalf("publish odd data: %d %s", st, body)
	}
	if st, body := changeHTTP(t, alice, s.URL, "chat:a", a[0], "a0 edited"); st != 200 {
		t.Fatalf("edit: %d %s", st, body)
	}
	if st, body := changeHTTP(t, alice, s.URL, "chat:a", a[1], ""); st != 200 {
		t.Fatalf("delete: %d %s", st, body)
	}
	for _, r := range []struct {
		c    cred
		room string
		off  uint64
	}{{alice, "chat:a", a[2].Offset}, {bob, "chat:b", 2}, {alice, "chat:b", 4}} {
		if st, body, _ := r.c.do(t, "POST", s.URL+"/api/rooms/"+r.room+"/read", fmt.Sprintf(`{"offset":%d}`, r.off)); st != 200 {
			t.Fatalf("mark read: %d %s", st, body)
		}
	}
	return &seeded{srv: s, folded: folded(t, alice, s.URL, "chat:a", 100)}
}

// logEvents reads every event and read position of the stopped log in
// data.
func logEvents(t *testing.T, data string) ([]*broker.Event, []broker.Record) {
	t.Helper()
	l, err := bolt.Open(filepath.Join(data, dbFile), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	rooms, err := l.Rooms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rooms {
		names = append(names, r.Name)
	}
	var evs []*broker.Event
	if len(names) > 0 {
		res, err := l.Read(ctx, names, 0, 100000)
		if err != nil {
			t.Fatal(err)
		}
		evs = res.Events
	}
	var recs []broker.Record
	if err := l.Scan(ctx, "read/", func(r broker.Record) bool { recs = append(recs, r); return true }); err != nil {
		t.Fatal(err)
	}
	return evs, recs
}

// sameEvents compares every field of every event.
func sameEvents(t *testing.T, got, want []*broker.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Offset != w.Offset || g.ID != w.ID || g.Room != w.Room || g.Type != w.Type || !bytes.Equal(g.Data, w.Data) ||
			!g.Time.Equal(w.Time) || g.Time.Location() != time.UTC || g.From != w.From {
			t.Fatalf("event %d:\n got %d %s %s %s %s %v %s\nwant %d %s %s %s %s %v %s", i,
				g.Offset, g.ID, g.Room, g.Type, g.Data, g.Time, g.From, w.Offset, w.ID, w.Room, w.Type, w.Data, w.Time, w.From)
		}
	}
}

// sameRecords compares state records.
func sameRecords(t *testing.T, got, want []broker.Record) {
	t.Helper()
	if !slices.EqualFunc(got, want, func(a, b broker.Record) bool {
		return a.Key == b.Key && bytes.Equal(a.Value, b.Value) && a.Expires.Equal(b.Expires)
	}) {
		t.Fatalf("state records:\n got %v\nwant %v", got, want)
	}
}

// roomEvents keeps the events of room.
func roomEvents(evs []*broker.Event, room string) []*broker.Event {
	var out []*broker.Event
	for _, e := range evs {
		if e.Room == room {
			out = append(out, e)
		}
	}
	return out
}

// TestExportImportRoundTrip: a stopped log exported and imported into a
// new data directory holds the same events, every field compared, at the
// same offsets, and the same read positions; a server started on it shows
// the same folded message view. A --room export holds that room only
// (and its read positions); an import into a non-empty log is refused,
// and --append renumbers; a truncated export is refused before anything
// is written; a log a server holds is refused.
func TestExportImportRoundTrip(t *testing.T) {
	sd := seedServer(t)
	src := sd.srv.Data
	if _, _, err := cli(t, "export", "--data", src, "--out", filepath.Join(t.TempDir(), "x.ndjson")); err == nil || !strings.Contains(err.Error(), "a server is running") {
		t.Fatalf("export of a running server's log: %v, want refused", err)
	}
	sd.srv.Stop(t)
	want, wantRecs := logEvents(t, src)
	if len(wantRecs) != 3 {
		t.Fatalf("%d read positions, want 3", len(wantRecs))
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "all.ndjson")
	out := mustCLI(t, "export", "--data", src, "--out", file)
	if !strings.Contains(out, fmt.Sprintf("exported %d events", len(want))) || !strings.Contains(out, "3 read positions") {
		t.Fatalf("export said %q", out)
	}
	dst := filepath.Join(dir, "imported")
	out = mustCLI(t, "import", "--data", dst, "--in", file)
	if !strings.Contains(out, fmt.Sprintf("imported %d events", len(want))) {
		t.Fatalf("import said %q", out)
	}
	got, gotRecs := logEvents(t, dst)
	sameEvents(t, got, want)
	sameRecords(t, gotRecs, wantRecs)
	if rep, err := bolt.Check(filepath.Join(dst, dbFile)); err != nil || !rep.OK() {
		t.Fatalf("check of the imported log: %v %v", err, rep)
	}
	s2 := startServer(t, dst, msgServerFlags...)
	if view := folded(t, cred{bearer: chatToken(t, "alice", "chat:*")}, s2.URL, "chat:a", 100); !slices.Equal(view, sd.folded) {
		t.Fatalf("folded view after import %q, want %q", view, sd.folded)
	}
	s2.Stop(t)

	t.Run("room filter", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "a.ndjson")
		mustCLI(t, "export", "--data", src, "--room", "chat:a", "--out", f)
		d := filepath.Join(t.TempDir(), "a")
		mustCLI(t, "import", "--data", d, "--in", f)
		got, recs := logEvents(t, d)
		sameEvents(t, got, roomEvents(want, "chat:a"))
		if len(recs) != 1 || readPositionRoom(recs[0].Key) != "chat:a" {
			t.Fatalf("read positions %v, want alice's in chat:a only", recs)
		}
	})
	t.Run("to standard output", func(t *testing.T) {
		out, errOut, err := cli(t, "export", "--data", src, "--out", "-")
		b, _ := os.ReadFile(file)
		_, wantBody, _ := strings.Cut(string(b), "\n")
		_, gotBody, _ := strings.Cut(out, "\n")
		if err != nil || gotBody != wantBody || !strings.Contains(errOut, "exported") {
			t.Fatalf("export --out -: %v\n%s\nstderr %s", err, out, errOut)
		}
	})
	t.Run("into a non-empty log", func(t *testing.T) {
		if _, _, err := cli(t, "import", "--data", dst, "--in", file); err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Fatalf("import into a non-empty log: %v, want refused", err)
		}
		out := mustCLI(t, "import", "--data", dst, "--in", file, "--append")
		if !strings.Contains(out, "3 read positions dropped") {
			t.Fatalf("append said %q", out)
		}
		got, recs := logEvents(t, dst)
		if len(got) != 2*len(want) || len(recs) != 3 {
			t.Fatalf("%d events and %d read positions after --append, want %d and 3", len(got), len(recs), 2*len(want))
		}
		head := want[len(want)-1].Offset
		for i, w := range want {
			g := got[len(want)+i]
			if g.Offset != head+uint64(i)+1 || g.ID != w.ID || !bytes.Equal(g.Data, w.Data) || !g.Time.Equal(w.Time) || g.From != w.From {
				t.Fatalf("appended event %d: %+v, want %+v at offset %d", i, g, w, head+uint64(i)+1)
			}
		}
	})
	t.Run("truncated", func(t *testing.T) {
		b, _ := os.ReadFile(file)
		lines := strings.SplitAfter(strings.TrimSpace(string(b)), "\n")
		f := filepath.Join(t.TempDir(), "cut.ndjson")
		os.WriteFile(f, []byte(strings.Join(lines[:len(lines)-1], "")), 0o600)
		d := filepath.Join(t.TempDir(), "cut")
		if _, _, err := cli(t, "import", "--data", d, "--in", f); err == nil || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("import of a truncated export: %v", err)
		}
		if _, err := os.Stat(filepath.Join(d, dbFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a refused import created the log: %v", err)
		}
	})
}

// TestAdminExportImport: the same through the admin API of running
// servers: rtbroker export --server, then import --server into a server
// on an empty log, which a tail (--json) of that server follows; the
// second server's export holds the same lines; a second import is
// refused (409), and so is a request without the admin key.
func TestAdminExportImport(t *testing.T) {
	sd := seedServer(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "a.ndjson")
	env := func(k string) string { // the key from the environment, as serve reads it
		if k == "RTBROKER_API_KEY" {
			return testAPIKey + ",another-key"
		}
		return ""
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"export", "--server", sd.srv.URL, "--out", file}, env, &stdout, &stderr); err != nil {
		t.Fatalf("export with the key of RTBROKER_API_KEY: %v\n%s", err, stderr.String())
	}
	if _, _, err := cli(t, "export", "--server", sd.srv.URL, "--out", filepath.Join(dir, "x")); err == nil || !strings.Contains(err.Error(), "401 unauthorized") {
		t.Fatalf("export without a key: %v", err)
	}

	b := startServer(t, "", msgServerFlags...)
	tailOut := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	tailDone := make(chan error, 1)
	go func() {
		tailDone <- run(ctx, []string{"tail", "chat:a", "--after", "0", "--json", "--server", b.URL, "--api-key", testAPIKey}, func(string) string { return "" }, tailOut, io.Discard)
	}()
	out := mustCLI(t, "import", "--server", b.URL, "--api-key", testAPIKey, "--in", file)
	if !strings.Contains(out, "and 3 read positions") {
		t.Fatalf("import said %q", out)
	}
	if _, _, err := cli(t, "import", "--server", b.URL, "--api-key", testAPIKey, "--in", file); err == nil || !strings.Contains(err.Error(), "409 conflict") {
		t.Fatalf("second import: %v, want 409", err)
	}
	if view := folded(t, cred{bearer: chatToken(t, "alice", "chat:*")}, b.URL, "chat:a", 100); !slices.Equal(view, sd.folded) {
		t.Fatalf("folded view after import %q, want %q", view, sd.folded)
	}
	again := filepath.Join(dir, "b.ndjson")
	mustCLI(t, "export", "--server", b.URL, "--api-key", testAPIKey, "--out", again)
	body := func(f string) []string { // every line but the header (epoch, time)
		bs, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSpace(string(bs)), "\n")[1:]
	}
	wantLines, gotLines := body(file), body(again)
	if !slices.Equal(gotLines, wantLines) {
		t.Fatalf("the imported server exports\n%s\nwant\n%s", strings.Join(gotLines, "\n"), strings.Join(wantLines, "\n"))
	}
	var chatA []string
	for _, l := range wantLines {
		if strings.Contains(l, `"room":"chat:a"`) {
			chatA = append(chatA, l)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(tailOut.String(), "\n") < len(chatA) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-tailDone; err != nil {
		t.Fatalf("tail ended with %v", err)
	}
	if got := strings.Split(strings.TrimSpace(tailOut.String()), "\n"); !slices.Equal(got, chatA) {
		t.Fatalf("tail --json printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(chatA, "\n"))
	}
}

// TestOperatorHelp: every operator subcommand answers -h with its usage,
// which never shows the credentials the environment holds.
func TestOperatorHelp(t *testing.T) {
	env := map[string]string{"RTBROKER_API_KEY": "env-key-do-not-print", "RTBROKER_TOKEN": "env-token-do-not-print"}
	for _, cmd := range []string{"tail", "export", "import", "backup", "compact", "version", "check", "recover"} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), []string{cmd, "-h"}, func(k string) string { return env[k] }, &out, &errOut)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(errOut.String(), "rtbroker "+cmd) && !strings.Contains(errOut.String(), "-data") {
			t.Errorf("rtbroker %s -h: %v\n%s", cmd, err, errOut.String())
		}
		if strings.Contains(errOut.String()+out.String(), "do-not-print") {
			t.Errorf("rtbroker %s -h shows a credential of the environment:\n%s", cmd, errOut.String())
		}
	}
}

// FuzzReadDump: any input is read without a panic, and refused only as
// malformed (ErrInvalid) or over the line limit (ErrTooLarge).
func FuzzReadDump(f *testing.F) {
	f.Add([]byte(`{"format":"rtbroker-export","version":1,"epoch":"E","head":1,"time":"2026-01-01T00:00:00Z"}
{"offset":1,"id":"01KC0000000000000000000000","room":"r","type":"t","data":{"a":[1,"x"]},"time":"2026-01-01T00:00:00Z","from":"ada"}
{"state":"read/ada/r","value":"eyJvIjoxfQ==","expires":"2027-01-01T00:00:00Z"}
{"end":{"events":1,"states":1}}
`))
	f.Add([]byte("{}\n{\"end\":{}}"))
	f.Fuzz(func(t *testing.T, in []byte) {
		_, _, err := readDump(context.Background(), bytes.NewReader(in), 4096, nil, nil)
		if err != nil && !errors.Is(err, broker.ErrInvalid) && !errors.Is(err, broker.ErrTooLarge) {
			t.Fatalf("error %v is neither invalid nor too large", err)
		}
	})
}

// TestProgressOnlyOnATerminal: the progress bar is drawn on a terminal
// only: a buffer or a pipe (a script, a log file) gets none.
func TestProgressOnlyOnATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for name, out := range map[string]io.Writer{"buffer": &bytes.Buffer{}, "pipe": w} {
		p := newProgress(out, "export", 10, false)
		if p.bar != nil {
			t.Errorf("%s: a progress bar", name)
		}
		p.setTotal(20)
		p.add(5)
		if rd := p.reader(bytes.NewReader(nil)); rd == nil {
			t.Errorf("%s: no reader", name)
		}
		p.done()
	}
}

// TestProgressOnATerminal: run on a terminal (a pseudo-terminal from
// script(1)), rtbroker export draws its progress bar; into a pipe it does
// not.
func TestProgressOnATerminal(t *testing.T) {
	scriptCmd := requireTool(t, "script")
	bin, err := binary()
	if err != nil {
		t.Fatalf("build rtbroker: %v", err)
	}
	dir := t.TempDir()
	l, err := bolt.Open(filepath.Join(dir, dbFile), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	entries := make([]broker.Entry, 100)
	for i := range entries {
		entries[i] = broker.Entry{ID: ulid.Make(), Room: "r", Type: "t", Data: []byte("1"), Time: time.Now()}
	}
	if _, err := l.Append(context.Background(), entries); err != nil {
		t.Fatal(err)
	}
	l.Close()
	export := fmt.Sprintf("%s export --data %s --out %s", bin, dir, filepath.Join(dir, "x.ndjson"))
	tty, err := exec.Command(scriptCmd, "-qec", export, "/dev/null").CombinedOutput()
	if err != nil || !strings.Contains(string(tty), "(0/100") || !strings.Contains(string(tty), "exported 100 events") {
		t.Fatalf("on a terminal: %v\n%q", err, tty)
	}
	piped, err := exec.Command("sh", "-c", export).CombinedOutput()
	if err != nil || strings.Contains(string(piped), "%") || !strings.Contains(string(piped), "exported 100 events") {
		t.Fatalf("into a pipe: %v\n%q", err, piped)
	}
}

// TestExportImportLarge: a log of many events in several rooms, with gaps
// that retention left, goes through export and import in many batches and
// comes back identical, offsets and gaps included.
func TestExportImportLarge(t *testing.T) {
	src := t.TempDir()
	l, err := bolt.Open(filepath.Join(src, dbFile), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 891011, time.UTC)
	for b := range 12 {
		entries := make([]broker.Entry, 1000)
		for i := range entries {
			n := b*1000 + i
			entries[i] = broker.Entry{ID: ulid.Make(), Room: fmt.Sprintf("room%d", n%7), Type: "chat:message",
				Data: fmt.Appendf(nil, `{"n":%d,"s":"\u00e9\"<"}`, n), Time: t0.Add(time.Duration(n) * time.Microsecond), From: fmt.Sprintf("user%d", n%5)}
		}
		if _, err := l.Append(ctx, entries); err != nil {
			t.Fatal(err)
		}
	}
	// room0 keeps its newest 100 events: a gap of most of its offsets.
	if _, err := l.Trim(ctx, broker.Retention{Rules: []broker.RetentionRule{{Pattern: "room0", MaxCount: 100}}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	l.Close()
	want, _ := logEvents(t, src)
	file := filepath.Join(t.TempDir(), "big.ndjson")
	mustCLI(t, "export", "--data", src, "--out", file)
	dst := filepath.Join(t.TempDir(), "dst")
	mustCLI(t, "import", "--data", dst, "--in", file)
	got, _ := logEvents(t, dst)
	sameEvents(t, got, want)
	if len(want) >= 12000 || len(want) < 10000 {
		t.Fatalf("%d events retained: the trim did not leave the gap the test needs", len(want))
	}
}
