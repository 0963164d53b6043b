package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/storage/bolt"
)

// TestBackupDuringPublishing: rtbroker backup of a secured server while
// publishers run writes a file that passes rtbroker check and holds every
// event acknowledged before the backup started, with its id; without the
// admin key it is refused.
func TestBackupDuringPublishing(t *testing.T) {
	s := startServer(t, "", "--api-key", testAPIKey, "--jwt-secret", testSecret)
	type acked struct {
		offset uint64
		id     string
	}
	var (
		mu   sync.Mutex
		acks []acked
		wg   sync.WaitGroup
	)
	ctx, stop := context.WithCancel(context.Background())
	for p := range 4 {
		wg.Go(func() {
			c := newClient()
			for i := 0; ctx.Err() == nil; i++ {
				r, err := publish(c, s.URL, fmt.Sprintf("room%d", p), "chat:message", fmt.Appendf(nil, `{"i":%d,"pad":"%s"}`, i, strings.Repeat("x", 200)), "X-API-Key", testAPIKey)
				if err != nil || r.status != 201 {
					if ctx.Err() == nil {
						t.Errorf("publish: %v %d %s", err, r.status, r.body)
					}
					return
				}
				mu.Lock()
				acks = append(acks, acked{r.ev.Offset, r.ev.ID})
				mu.Unlock()
			}
		})
	}
	waitFor(t, "publishes", func() bool { mu.Lock(); defer mu.Unlock(); return len(acks) >= 200 })
	mu.Lock()
	before := append([]acked(nil), acks...)
	mu.Unlock()
	out := filepath.Join(t.TempDir(), "backup.db")
	said := mustCLI(t, "backup", "--server", s.URL, "--api-key", testAPIKey, "--out", out)
	stop()
	wg.Wait()
	if !strings.Contains(said, "check: ok") {
		t.Fatalf("backup said %q", said)
	}
	if rep, err := bolt.Check(out); err != nil || !rep.OK() {
		t.Fatalf("check of the backup: %v %+v", err, rep)
	}
	dir := t.TempDir()
	b, _ := os.ReadFile(out)
	os.WriteFile(filepath.Join(dir, dbFile), b, 0o600)
	evs, _ := logEvents(t, dir)
	have := make(map[uint64]string, len(evs))
	for _, e := range evs {
		have[e.Offset] = e.ID.String()
	}
	for _, a := range before {
		if have[a.offset] != a.id {
			t.Fatalf("the backup lacks event %d (%s), acknowledged before it started (%d events in it)", a.offset, a.id, len(evs))
		}
	}
	if _, _, err := cli(t, "backup", "--server", s.URL, "--api-key", "wrong", "--out", filepath.Join(dir, "x.db")); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("backup with a wrong key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); err == nil {
		t.Fatal("a refused backup left a file")
	}
}

// TestCompact: rtbroker compact of a stopped log whose events retention
// removed shrinks the file, which passes check and holds what was
// retained; with --out it writes a copy and leaves the log; a log held
// open (a running server) is refused.
func TestCompact(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, dbFile)
	l, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 20 {
		var entries []broker.Entry
		for j := range 100 {
			entries = append(entries, broker.Entry{Room: fmt.Sprintf("r%d", j%4), Type: "t", Data: []byte(`"` + strings.Repeat("y", 1000) + `"`), From: fmt.Sprint(i)})
		}
		if _, err := l.Append(ctx, entries); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Trim(ctx, broker.Retention{MaxCount: 5}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, "compact", "--data", dir); err == nil || !strings.Contains(err.Error(), "a server is running") {
		t.Fatalf("compact of an open log: %v", err)
	}
	l.Close()
	want, _ := logEvents(t, dir)
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	mustCLI(t, "compact", "--data", dir, "--out", copyPath)
	said := mustCLI(t, "compact", "--data", dir)
	var before, after int64
	if _, err := fmt.Sscanf(said[strings.Index(said, ": ")+2:], "%d bytes before, %d after", &before, &after); err != nil || after >= before {
		t.Fatalf("compact said %q (%v): want a smaller file", said, err)
	}
	for _, p := range []string{path, copyPath} {
		if rep, err := bolt.Check(p); err != nil || !rep.OK() {
			t.Fatalf("check of %s: %v %+v", p, err, rep)
		}
	}
	got, _ := logEvents(t, dir)
	sameEvents(t, got, want)
	if len(got) != 20 {
		t.Fatalf("%d events after compaction, want the 20 retained", len(got))
	}
}

// TestVersion: rtbroker version prints the -ldflags version, the module
// version and the VCS commit of the build information.
func TestVersion(t *testing.T) {
	out := mustCLI(t, "version")
	if !strings.HasPrefix(out, "rtbroker "+version+"\n") || !strings.Contains(out, "\nmodule ") || !strings.Contains(out, "\ncommit ") {
		t.Fatalf("version printed %q", out)
	}
	bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/rtbroker/rtbroker", Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct{ ldflags, want string }{
		{"dev", "rtbroker v1.4.0\nmodule github.com/rtbroker/rtbroker v1.4.0\ncommit 0123abcd 2026-12-01T10:00:00Z (modified)\n"},
		{"1.5.0-rc1", "rtbroker 1.5.0-rc1\nmodule github.com/rtbroker/rtbroker v1.4.0\ncommit 0123abcd 2026-12-01T10:00:00Z (modified)\n"},
	} {
		if got := versionText(tc.ldflags, bi); !strings.HasPrefix(got, tc.want) {
			t.Errorf("versionText(%q) = %q, want it to begin %q", tc.ldflags, got, tc.want)
		}
	}
}

// TestVersionLdflags: a binary built with -ldflags "-X main.version=…"
// prints that version first.
func TestVersionLdflags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "rtbroker")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=9.8.7-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "rtbroker 9.8.7-test\nmodule github.com/rtbroker/rtbroker ") {
		t.Fatalf("version: %v\n%s", err, out)
	}
}

// TestOperatorCommandsAdminToken: a token with --admin-role takes a backup
// and an export (--token) as an admin API key does; a token without the
// role is refused.
func TestOperatorCommandsAdminToken(t *testing.T) {
	s := startServer(t, "", "--jwt-secret", testSecret, "--admin-role", "admin")
	admin := mint(t, "olga", func(c jwt.MapClaims) { c["roles"] = []string{"admin"} })
	dir := t.TempDir()
	mustCLI(t, "backup", "--server", s.URL, "--token", admin, "--out", filepath.Join(dir, "b.db"))
	mustCLI(t, "export", "--server", s.URL, "--token", admin, "--out", filepath.Join(dir, "e.ndjson"))
	if _, _, err := cli(t, "backup", "--server", s.URL, "--token", mint(t, "ada", nil), "--out", filepath.Join(dir, "x.db")); err == nil || !strings.Contains(err.Error(), "403 forbidden") {
		t.Fatalf("backup with a token without the role: %v", err)
	}
}
