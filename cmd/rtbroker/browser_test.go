package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// browserResult is the JSON line testdata/browser.mjs prints.
type browserResult struct {
	OK         bool                `json:"ok"`
	Failures   []string            `json:"failures"`
	Steps      []string            `json:"steps"`
	Offsets    map[string][]uint64 `json:"offsets"`
	Console    []string            `json:"console"`
	Screenshot string              `json:"screenshot"`
}

// TestBrowserUI drives the embedded UI in headless Chromium (Debian's
// /usr/bin/chromium, through playwright-core from npm): the three
// transport panels (SSE, long-polling, Socket.IO) go live, the Socket.IO
// panel upgrades to WebSocket, and messages published through the form
// (over HTTP and over Socket.IO) and with fetch reach each panel in offset
// order with the same offsets. The UI's Socket.IO connection is dropped
// twice: first it recovers its session with the missed events, then, with
// its session id forgotten, it re-joins after its last offset. A plain
// EventSource replays from after=0 with lastEventId equal to the offset
// and resumes after its last id with exactly the events it missed; a plain
// socket.io-client (the bundle at /socket.io/socket.io.js, WebSocket only)
// recovers after a dropped connection with exactly the events published
// meanwhile. The screenshots (wide, and narrow with stacked panels) are
// kept in the test's temp dir and copied to $RTBROKER_SCREENSHOT_DIR when
// that is set.
func TestBrowserUI(t *testing.T) {
	node := needBrowser(t)
	srv := startServer(t, "")
	runBrowserScript(t, node, srv, "browser.mjs", []string{"ui.png", "ui-narrow.png"})
}

// needBrowser returns node's path once node, Chromium and playwright-core
// are there (skipped with -short; see requireFile for a missing tool).
func needBrowser(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("drives a browser")
	}
	node := requireTool(t, "node")
	requireFile(t, "/usr/bin/chromium", "install Debian's chromium package")
	requireFile(t, filepath.Join(repoRoot(t), "node_modules", "playwright-core", "package.json"), "run `npm ci` at the repository root")
	return node
}

// runBrowserScript runs testdata/<script> with Node against srv (its URL
// and the path of the first screenshot as arguments, env added to Node's
// environment), reports the steps and failures it prints, checks that
// the first screenshot was taken, and copies the screenshots named in
// shots to $RTBROKER_SCREENSHOT_DIR when that is set.
func runBrowserScript(t *testing.T, node string, srv *testServer, script string, shots []string, env ...string) {
	t.Helper()
	tmp := t.TempDir()
	shot := filepath.Join(tmp, shots[0])
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", script), srv.URL, shot)
	// Playwright makes Chromium's fresh profile directory under TMPDIR.
	cmd.Env = append(append(os.Environ(), "TMPDIR="+tmp), env...)
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("browser script timed out\nstdout:\n%s\nstderr:\n%s\nserver log:\n%s", &stdout, &stderr, srv.logs.String())
	}
	res, perr := parseBrowserResult(stdout.Bytes())
	if perr != nil {
		t.Fatalf("browser script: %v (exit: %v)\nstdout:\n%s\nstderr:\n%s", perr, err, &stdout, &stderr)
	}
	if err != nil {
		t.Errorf("browser script exited with %v\nstderr:\n%s", err, &stderr)
	}
	for _, s := range res.Steps {
		t.Logf("ok: %s", s)
	}
	for _, f := range res.Failures {
		t.Errorf("browser: %s", f)
	}
	if !res.OK && len(res.Failures) == 0 {
		t.Errorf("browser script reported failure without details: %s", &stdout)
	}
	if t.Failed() {
		t.Logf("offsets: %v\nstderr:\n%s\nserver log:\n%s", res.Offsets, &stderr, srv.logs.String())
	}
	if res.Screenshot == "" {
		return
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Errorf("screenshot %s missing or empty: %v", shot, err)
		return
	}
	if dir := os.Getenv("RTBROKER_SCREENSHOT_DIR"); dir != "" {
		for _, name := range shots {
			dst := filepath.Join(dir, name)
			if err := copyFile(filepath.Join(tmp, name), dst); err != nil {
				t.Errorf("copy screenshot: %v", err)
			} else {
				t.Logf("screenshot: %s", dst)
			}
		}
	}
}

// parseBrowserResult finds the script's JSON result: its last line that
// starts with '{'.
func parseBrowserResult(out []byte) (browserResult, error) {
	var res browserResult
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(lines[i])
		if strings.HasPrefix(line, "{") {
			err := json.Unmarshal([]byte(line), &res)
			return res, err
		}
	}
	return res, errors.New("no JSON result line")
}

// requireFile checks that an outside file (a browser, an npm package)
// exists. When it is missing the test fails in CI (CI=true) and is skipped
// elsewhere, like requireTool.
func requireFile(t testing.TB, path, hint string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (%s): %v", path, hint, err)
		}
		t.Skipf("%s not found (%s): %v", path, hint, err)
	}
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// TestBrowserUIToken drives the UI (testdata/browser-token.mjs) on a
// server that requires a token: without one the panels say unauthorized;
// with one typed into the Token field they go live, the token travels as
// ?token= (SSE, long-poll), Authorization: Bearer (fetch) and auth.token
// (Socket.IO), and the form's events carry the token's subject as from.
// The screenshots, ui-token.png and ui-token-refused.png (before the
// token), are copied to $RTBROKER_SCREENSHOT_DIR when that is set.
func TestBrowserUIToken(t *testing.T) {
	node := needBrowser(t)
	srv := startServer(t, "", "--jwt-secret", testSecret)
	tok := mint(t, "ada", func(c jwt.MapClaims) {
		c["rooms"] = map[string]any{"subscribe": []string{"secure-room"}, "publish": []string{"secure-room"}}
	})
	runBrowserScript(t, node, srv, "browser-token.mjs", []string{"ui-token.png", "ui-token-refused.png"}, "RTBROKER_TEST_TOKEN="+tok)
}
