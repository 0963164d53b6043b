package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/storage/bolt"
)

// readiness is the body of /healthz and /readyz.
type readiness struct {
	Status  string   `json:"status"`
	Head    uint64   `json:"head"`
	Epoch   string   `json:"epoch"`
	Reasons []string `json:"reasons"`
}

// getReadiness GETs path (/healthz or /readyz) and returns its status and body.
func getReadiness(t *testing.T, c *http.Client, base, path string) (int, readiness) {
	t.Helper()
	resp, err := c.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r readiness
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, r
}

// errorBody is {"error":{"code","message"}}.
type errorBody struct {
	Error struct{ Code, Message string } `json:"error"`
}

// writeDamagedLog writes a log of 3000 events (rooms r0, r1, r2; event i
// in room r(i%3)) into dir/rtbroker.db with the bolt package, serves it
// once (the server builds its projections), then writes random bytes over
// the pages holding events 700, 1500 and 2400.
func writeDamagedLog(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, dbFile)
	l, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 200)
	for i := 0; i < 3000; i += 100 {
		batch := make([]broker.Entry, 100)
		for j := range batch {
			n := i + j + 1
			batch[j] = broker.Entry{ID: ulid.Make(), Room: fmt.Sprintf("r%d", n%3), Type: "msg",
				Data: fmt.Appendf(nil, `{"mark":"ev-%06d","pad":%q}`, n, pad), Time: time.Now(), From: "u"}
		}
		if _, err := l.Append(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	startServer(t, dir).Stop(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{700, 1500, 2400} {
		at := bytes.Index(raw, fmt.Appendf(nil, "ev-%06d", n))
		if at < 0 {
			t.Fatalf("event %d not in the file", n)
		}
		page := at / bolt.DefaultPageSize * bolt.DefaultPageSize
		for i := page; i < page+bolt.DefaultPageSize; i++ {
			raw[i] = byte(rng.Uint32())
		}
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedLog: a server on a damaged file answers a history read that
// hits a damaged page with 500 data_corrupted naming the offsets, logs it
// at ERROR once, says degraded on /healthz (200) and /readyz (503), and
// keeps serving what is readable. Stopped, `rtbroker check` reports the
// damage and fails; `rtbroker recover` writes a new log that passes check,
// has a new epoch and serves every event recovered with its offset.
func TestDamagedLog(t *testing.T) {
	dir := t.TempDir()
	writeDamagedLog(t, dir)
	srv := startServer(t, dir)
	c := newClient()
	for _, tc := range []struct {
		name, query string
		status      int
	}{
		{"across the damaged page", "after=1000&limit=1000", http.StatusInternalServerError},
		{"the same again", "after=1000&limit=1000", http.StatusInternalServerError},
		{"before the damage", "after=0&limit=100", http.StatusOK},
		{"after the damage", "after=2500&limit=100", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Get(srv.URL + "/api/rooms/r1/events?" + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.status, body)
			}
			if tc.status == http.StatusOK {
				return
			}
			var eb errorBody
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code != "data_corrupted" ||
				!strings.Contains(eb.Error.Message, "from offset 1001 to 3000") {
				t.Errorf("body %s, want data_corrupted naming offsets 1001 to 3000", body)
			}
		})
	}
	if n := strings.Count(srv.logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d ERROR lines for two reads of a damaged page, want 1:\n%s", n, srv.logs.String())
	}
	if st, h := getReadiness(t, c, srv.URL, "/healthz"); st != http.StatusOK || h.Status != "degraded" || len(h.Reasons) != 1 {
		t.Errorf("/healthz: %d %+v, want 200 degraded with one reason", st, h)
	}
	if st, h := getReadiness(t, c, srv.URL, "/readyz"); st != http.StatusServiceUnavailable || h.Status != "degraded" {
		t.Errorf("/readyz: %d %+v, want 503 degraded", st, h)
	}
	oldEpoch := getHealth(t, c, srv.URL).Epoch
	srv.Stop(t)

	var out bytes.Buffer
	err := run(context.Background(), []string{"check", "--data", dir}, noEnv, &out, io.Discard)
	if !errors.Is(err, errCheckFailed) || !strings.Contains(out.String(), "problem:") {
		t.Fatalf("check of the damaged log: %v\n%s", err, out.String())
	}
	dir2 := filepath.Join(t.TempDir(), "recovered")
	out.Reset()
	if err := run(context.Background(), []string{"recover", "--data", dir, "--out", dir2}, noEnv, &out, io.Discard); err != nil {
		t.Fatalf("recover: %v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), "lost: offsets"); n != 3 {
		t.Errorf("recover report names %d lost ranges, want 3:\n%s", n, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"check", "--data", dir2}, noEnv, &out, io.Discard); err != nil {
		t.Fatalf("check of the recovered log: %v\n%s", err, out.String())
	}
	srv2 := startServer(t, dir2)
	h := getHealth(t, c, srv2.URL)
	if h.Epoch == oldEpoch || h.Head != 3000 {
		t.Errorf("recovered server: epoch %s (old %s), head %d, want a new epoch and head 3000", h.Epoch, oldEpoch, h.Head)
	}
	if st, r := getReadiness(t, c, srv2.URL, "/readyz"); st != http.StatusOK || r.Status != "ok" {
		t.Errorf("recovered server /readyz: %d %+v", st, r)
	}
	var page struct {
		Events []struct {
			Offset uint64          `json:"offset"`
			Data   json.RawMessage `json:"data"`
		} `json:"events"`
	}
	if st, body, err := getJSON(c, srv2.URL+"/api/rooms/r1/events?after=0&limit=1000", &page); err != nil || st != http.StatusOK {
		t.Fatalf("history of the recovered log: %d %v %s", st, err, body)
	}
	for _, ev := range page.Events {
		if want := fmt.Sprintf(`"ev-%06d"`, ev.Offset); !bytes.Contains(ev.Data, []byte(want)) {
			t.Fatalf("event at offset %d has data %s: offsets not kept", ev.Offset, ev.Data)
		}
	}
	if len(page.Events) < 900 {
		t.Errorf("room r1 has %d events after recovery, want most of its 1000", len(page.Events))
	}
}

func noEnv(string) string { return "" }

// mountTmpfs mounts a tmpfs of size bytes at a new directory and returns
// it; it is unmounted at the end of the test. Where mounting is not
// possible (not root, no CAP_SYS_ADMIN) the test is skipped, and fails in
// CI, which runs as root.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		// Not a missing tool but a missing privilege (a container without
		// CAP_SYS_ADMIN): the fault-injecting TestDiskFull in storage/bolt
		// is the test that always runs.
		t.Skipf("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestDiskFullTmpfs: the real binary with its data on a 6 MB tmpfs.
// Once the disk is full, HTTP publishes get 507 insufficient_storage and
// Socket.IO publishes an ack {ok:false, error:{code:"insufficient_storage"}},
// /healthz says degraded (200) and /readyz 503, and the server logs one
// ERROR line, not one per request. When space returns (a file is
// deleted), publishing resumes by itself, /readyz says ok, and every
// acknowledged event is in the log.
func TestDiskFullTmpfs(t *testing.T) {
	mnt := mountTmpfs(t, "6m")
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	bin, err := binary()
	if err != nil {
		t.Fatalf("build rtbroker: %v", err)
	}
	logs := &lockedBuffer{}
	pr, pw := io.Pipe()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(mnt, "data"), "--publish-rate", "0", "--connect-rate", "0",
		"--journal-size", "262144")
	cmd.Stderr = io.MultiWriter(pw, logs)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); pw.Close() })
	addr := make(chan string, 1)
	go scanListen(pr, addr)
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatalf("rtbroker did not start:\n%s", logs.String())
	}
	c := newClient()
	data := fmt.Appendf(nil, `{"pad":%q}`, strings.Repeat("d", 1000))
	acked := 0
	var refused pubResult
	for i := 0; ; i++ {
		r, err := publish(c, base, "full", "t", data)
		if err != nil {
			t.Fatal(err)
		}
		if r.status == http.StatusCreated {
			acked++
			if i > 20_000 {
				t.Fatal("20,000 publishes of 1 KB fit on a 6 MB disk")
			}
			continue
		}
		refused = r
		break
	}
	if refused.status != http.StatusInsufficientStorage || !bytes.Contains(refused.body, []byte(`"code":"insufficient_storage"`)) {
		t.Fatalf("publish on a full disk: %d %s, want 507 insufficient_storage", refused.status, refused.body)
	}
	for range 100 {
		if r, _ := publish(c, base, "full", "t", data); r.status != http.StatusInsufficientStorage {
			t.Fatalf("publish on a full disk: %d %s", r.status, r.body)
		}
	}
	d := startSIODriver(t)
	d.connect("s", base+"/", "", false)
	ack := d.emit("s", "chat:message", map[string]any{"room": "full", "pad": strings.Repeat("d", 1000)})
	if e, _ := ack["error"].(map[string]any); ack["ok"] != false || e["code"] != "insufficient_storage" {
		t.Errorf("Socket.IO publish on a full disk: ack %v, want insufficient_storage", ack)
	}
	if st, h := getReadiness(t, c, base, "/healthz"); st != http.StatusOK || h.Status != "degraded" || len(h.Reasons) == 0 {
		t.Errorf("/healthz on a full disk: %d %+v", st, h)
	}
	if st, _ := getReadiness(t, c, base, "/readyz"); st != http.StatusServiceUnavailable {
		t.Errorf("/readyz on a full disk: %d, want 503", st)
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d ERROR lines for 102 refused publishes, want 1:\n%s", n, logs.String())
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r, err := publish(c, base, "full", "t", data)
	if err != nil || r.status != http.StatusCreated {
		t.Fatalf("publish after space returned: %d %s %v", r.status, r.body, err)
	}
	acked++
	if ack := d.emit("s", "chat:message", map[string]any{"room": "full", "n": 1}); ack["ok"] != true {
		t.Errorf("Socket.IO publish after space returned: %v", ack)
	}
	acked++
	if st, h := getReadiness(t, c, base, "/readyz"); st != http.StatusOK || h.Status != "ok" || h.Head != uint64(acked) {
		t.Errorf("/readyz after space returned: %d %+v, want ok with head %d (every acknowledged publish, nothing else)", st, h, acked)
	}
}
