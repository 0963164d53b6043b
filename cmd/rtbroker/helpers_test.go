package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// listenLine matches the address in serve's "listening" log line.
var listenLine = regexp.MustCompile(`msg=listening addr=(\S+)`)

// testServer is rtbroker serve running in this process.
type testServer struct {
	URL    string
	Data   string
	cancel context.CancelFunc
	done   chan error
	logs   *lockedBuffer
}

// startServer runs `rtbroker serve` in-process on 127.0.0.1:0 with data in
// dataDir (a fresh temp dir when empty) and extra flags. Its publish and
// connect rates are unlimited (every test client shares 127.0.0.1) unless
// args set them. It returns once the server listens; the server is
// stopped at the end of the test.
func startServer(t testing.TB, dataDir string, args ...string) *testServer {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{Data: dataDir, cancel: cancel, done: make(chan error, 1), logs: &lockedBuffer{}}
	pr, pw := io.Pipe()
	all := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dataDir, "--publish-rate", "0", "--connect-rate", "0"}, args...)
	go func() {
		s.done <- run(ctx, all, func(string) string { return "" }, io.Discard, io.MultiWriter(pw, s.logs))
		pw.Close()
	}()
	addr := make(chan string, 1)
	go scanListen(pr, addr)
	select {
	case a := <-addr:
		s.URL = "http://" + a
	case err := <-s.done:
		t.Fatalf("server exited before listening: %v\n%s", err, s.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not start:\n%s", s.logs.String())
	}
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Stop shuts the server down gracefully (like SIGTERM) and waits for it.
// Stopping twice is harmless.
func (s *testServer) Stop(t testing.TB) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("server stopped with error: %v\n%s", err, s.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("server did not stop:\n%s", s.logs.String())
	}
}

// scanListen sends the listening address from serve's log output on addr,
// then drains r.
func scanListen(r io.Reader, addr chan<- string) {
	sc := bufio.NewScanner(r)
	sent := false
	for sc.Scan() {
		if m := listenLine.FindStringSubmatch(sc.Text()); m != nil && !sent {
			addr <- m[1]
			sent = true
		}
	}
	io.Copy(io.Discard, r)
}

type lockedBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.String()
}

// binary builds the rtbroker binary once per test run and returns its path.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "rtbroker-bin-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "rtbroker")
	cmd := exec.Command("go", "build", "-o", path, ".")
	cmd.Stderr = os.Stderr
	return path, cmd.Run()
})

// startProcess runs the built binary as a child process (so a test can
// SIGKILL it) and returns the command and base URL once it listens.
func startProcess(t testing.TB, dataDir string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatalf("build rtbroker: %v", err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dataDir, "--publish-rate", "0", "--connect-rate", "0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go scanListen(stderr, addr)
	select {
	case a := <-addr:
		return cmd, "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("rtbroker process did not start")
	}
	return nil, ""
}

// requireTool returns the path of an outside tool. When it is missing the
// test fails in CI (CI=true) and is skipped elsewhere.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// repoRoot is the module root (where package.json and node_modules live).
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
