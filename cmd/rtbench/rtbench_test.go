package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// rtbrokerBin is the rtbroker binary TestMain builds.
var rtbrokerBin string

func TestMain(m *testing.M) {
	if os.Getenv("RTBENCH_WORKER") == "1" {
		// This test binary re-executed as a worker (see startRemote).
		if err := runWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "rtbench-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	rtbrokerBin = filepath.Join(dir, "rtbroker")
	build := exec.Command("go", "build", "-o", rtbrokerBin, "github.com/rtbroker/rtbroker/cmd/rtbroker")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build rtbroker:", err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var listenLine = regexp.MustCompile(`msg=listening addr=(\S+)`)

// server is an rtbroker process.
type server struct {
	cmd  *exec.Cmd
	addr string // host:port
	data string
	done chan struct{}
}

// startServer runs rtbroker with its log in data (a temp dir when empty)
// on addr ("127.0.0.1:0" for any port) and returns once it listens. The
// process is killed at the end of the test.
func startServer(t *testing.T, data, addr string) *server {
	t.Helper()
	if data == "" {
		data = t.TempDir()
	}
	s, err := launch(data, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.kill)
	return s
}

// launch starts an rtbroker process, with extra flags of serve, and
// waits until it listens.
func launch(data, addr string, extra ...string) (*server, error) {
	cmd := exec.Command(rtbrokerBin, append([]string{"serve", "--addr", addr, "--data", data,
		"--publish-rate", "0", "--max-conns-per-ip", "0", "--connect-rate", "0"}, extra...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, data: data, done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() { cmd.Wait(); close(s.done) }()
	select {
	case s.addr = <-found:
		return s, nil
	case <-s.done:
		return nil, errors.New("rtbroker exited before listening")
	case <-time.After(30 * time.Second):
		s.kill()
		return nil, errors.New("rtbroker did not start")
	}
}

func (s *server) url() string { return "http://" + s.addr }

func (s *server) kill() {
	s.cmd.Process.Kill()
	<-s.done
}

// runTool runs rtbench in this process and returns its exit status, the
// JSON result and the output.
func runTool(t *testing.T, args ...string) (int, *result, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "result.json")
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	code := run(ctx, append(args, "--json", path, "--quiet"), &out, &errOut)
	all := out.String() + errOut.String()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("rtbench %v: exit %d, no JSON: %v\n%s", args, code, err, all)
	}
	var r result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("result JSON: %v\n%s", err, b)
	}
	return code, &r, all
}

// mustPass fails the test unless the run was clean and delivered events.
func mustPass(t *testing.T, code int, r *result, out string) {
	t.Helper()
	if code != 0 || !r.OK || r.Missed != 0 || r.Duplicated != 0 || r.ConnectFailures != 0 {
		t.Fatalf("exit %d, ok %v, missed %d, duplicated %d, connect failures %d, problems %q\n%s",
			code, r.OK, r.Missed, r.Duplicated, r.ConnectFailures, r.Problems, out)
	}
}

// TestSmoke runs the smoke scenario (subscribe, publish, drop every
// connection, recover everything) on each transport, and once with the
// Socket.IO publisher and the subscribers split over worker processes.
func TestSmoke(t *testing.T) {
	srv := startServer(t, "", "127.0.0.1:0")
	tests := []struct {
		name string
		args []string
	}{
		{"ws", []string{"--transport", "ws"}},
		{"polling", []string{"--transport", "polling"}},
		{"sse", []string{"--transport", "sse"}},
		{"longpoll", []string{"--transport", "longpoll"}},
		{"ws, sio publisher, 2 workers", []string{"--transport", "ws", "--publisher", "sio", "--subs", "6", "--proc-conns", "3"}},
		{"polling, 2 workers", []string{"--transport", "polling", "--subs", "4", "--proc-conns", "4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, r, out := runTool(t, append([]string{"smoke", "--url", srv.url(), "--warmup", "500ms"}, tc.args...)...)
			mustPass(t, code, r, out)
			var parts []smokeResult
			raw, _ := json.Marshal(r.Extra["transports"])
			json.Unmarshal(raw, &parts)
			if len(parts) != 1 || parts[0].Published == 0 || parts[0].Delivered < parts[0].Published {
				t.Fatalf("transports %s\n%s", raw, out)
			}
			if strings.Contains(tc.name, "workers") && r.Extra["processes"] == nil {
				t.Fatalf("the subscribers did not run in workers\n%s", out)
			}
		})
	}
}

// restartCmd returns a --restart-cmd that has the test stop srv (like
// SIGINT) and start a new server on the same address and data, which it
// sends on the returned channel; the command returns once it listens.
func restartCmd(t *testing.T, srv *server) (string, <-chan *server) {
	dir := t.TempDir()
	req, ack := filepath.Join(dir, "restart"), filepath.Join(dir, "restarted")
	next := make(chan *server, 1)
	go func() {
		defer close(next)
		for {
			if _, err := os.Stat(req); err == nil {
				break
			}
			select {
			case <-t.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		srv.cmd.Process.Signal(os.Interrupt)
		<-srv.done
		s, err := launch(srv.data, srv.addr)
		if err != nil {
			t.Errorf("restart: %v", err)
			return
		}
		next <- s
		os.WriteFile(ack, nil, 0o644)
	}()
	return fmt.Sprintf("touch %s; while [ ! -e %s ]; do sleep 0.05; done", req, ack), next
}

// TestStormRestart restarts the server in the middle of a storm: every
// client resubscribes and recovers every event from the log.
func TestStormRestart(t *testing.T) {
	srv := startServer(t, "", "127.0.0.1:0")
	for _, tr := range []string{"ws", "sse", "polling"} {
		cmd, next := restartCmd(t, srv)
		code, r, out := runTool(t, "storm", "--url", srv.url(), "--transport", tr, "--subs", "20", "--rooms", "3",
			"--rate", "50", "--warmup", "1s", "--duration", "1s", "--restart-cmd", cmd)
		srv = <-next
		if srv == nil {
			t.Fatalf("%s: the server was not restarted\n%s", tr, out)
		}
		t.Cleanup(srv.kill)
		mustPass(t, code, r, out)
		if r.Extra["resubscribed"].(float64) != 20 || r.Delivered < r.Published*6 {
			t.Fatalf("%s: resubscribed %v, delivered %d of %d published\n%s", tr, r.Extra["resubscribed"], r.Delivered, r.Published, out)
		}
		// Recovered counts from the restart to the last client holding
		// every event it missed: never before its resubscription.
		recov, _ := r.Extra["recovered_s"].(float64)
		if r.Extra["recovered"].(float64) != 20 || recov < r.Extra["resubscribed_s"].(float64) {
			t.Fatalf("%s: recovered %v in %v s, resubscribed in %v s\n%s", tr, r.Extra["recovered"], r.Extra["recovered_s"], r.Extra["resubscribed_s"], out)
		}
	}
}

// TestStormDetectsLoss checks the tool fails a run whose server goes away
// for good: the clients cannot reconnect.
func TestStormDetectsLoss(t *testing.T) {
	srv := startServer(t, "", "127.0.0.1:0")
	cmd := fmt.Sprintf("kill -9 %d", srv.cmd.Process.Pid)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	code := run(ctx, []string{"storm", "--url", srv.url(), "--subs", "5", "--rate", "20", "--warmup", "500ms",
		"--duration", "500ms", "--restart-cmd", cmd, "--reconnect-timeout", "1s", "--quiet"}, &out, &out)
	if code != 1 || !strings.Contains(out.String(), "FAILED") {
		t.Fatalf("exit %d after the server died\n%s", code, out.String())
	}
}

// TestReplay fills a room and has clients of each transport read it all
// from offset 0; a second run reuses the stored events.
func TestReplay(t *testing.T) {
	srv := startServer(t, "", "127.0.0.1:0")
	for _, tr := range []string{"ws", "polling", "sse", "longpoll"} {
		code, r, out := runTool(t, "replay", "--url", srv.url(), "--transport", tr, "--subs", "3", "--events", "2500", "--size", "64")
		mustPass(t, code, r, out)
		if r.Delivered != 3*2500 || r.Extra["events"].(float64) != 2500 || r.Extra["replay_events_per_s"] == nil {
			t.Fatalf("%s: delivered %d, extra %v\n%s", tr, r.Delivered, r.Extra, out)
		}
	}
}

// TestScenarios runs the other scenarios briefly, for correctness only.
func TestScenarios(t *testing.T) {
	srv := startServer(t, "", "127.0.0.1:0")
	pid := fmt.Sprint(srv.cmd.Process.Pid)
	tests := []struct {
		name  string
		args  []string
		check func(r *result) bool
	}{
		{"latency", []string{"latency", "--subs", "20", "--rate", "50", "--warmup", "200ms", "--duration", "1s"},
			func(r *result) bool { return r.Delivered == r.Published*20 && r.LatencyMs.P50 > 0 }},
		{"rooms", []string{"rooms", "--subs", "30", "--rooms", "10", "--rate", "100", "--warmup", "200ms", "--duration", "1s", "--transport", "sse"},
			func(r *result) bool { return r.Delivered == r.Published*3 }},
		{"fanout", []string{"fanout", "--subs", "10", "--rate", "20", "--step-duration", "500ms", "--duration", "1s", "--warmup", "200ms", "--transport", "longpoll"},
			func(r *result) bool {
				return len(r.Extra["steps"].([]any)) >= 2 && r.Extra["max_deliveries_per_s"].(float64) > 0
			}},
		{"ingest", []string{"ingest", "--pub-conns", "4", "--size", "256", "--warmup", "200ms", "--duration", "1s", "--batch", "2"},
			func(r *result) bool { return r.Published > 0 && r.Extra["ingest_events_per_s"].(float64) > 0 }},
		{"idle", []string{"idle", "--subs", "50", "--server-pid", pid, "--transport", "polling"},
			func(r *result) bool { return r.Server.RSSBytes > 0 && r.Extra["rss_after_bytes"] != nil }},
		{"idle at fixed times", []string{"idle", "--subs", "50", "--server-pid", pid, "--rss-at", "1s,300ms"},
			func(r *result) bool {
				return r.Extra["rss_per_conn_0.3s_bytes"] != nil && r.Extra["rss_per_conn_1s_bytes"] != nil &&
					r.Extra["rss_1s_bytes"].(float64) > 0 && r.Server.RSSPerConnBytes != 0
			}},
		{"conns", []string{"conns", "--subs", "40", "--rooms", "4", "--duration", "500ms", "--server-pid", pid},
			func(r *result) bool { return r.Delivered == 40 && r.Extra["held"].(float64) == 40 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, r, out := runTool(t, append(tc.args, "--url", srv.url())...)
			mustPass(t, code, r, out)
			if !tc.check(r) {
				t.Fatalf("unexpected result\n%s", out)
			}
		})
	}
}

// TestUsage checks bad command lines are refused clearly.
func TestUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no scenario"},
		{[]string{"nope"}, "unknown scenario"},
		{[]string{"smoke", "--target", "node", "--transport", "sse"}, "the Node peer serves only Socket.IO"},
		{[]string{"latency", "--target", "node", "--transport", "longpoll"}, "the Node peer serves only Socket.IO"},
		{[]string{"idle"}, "--server-pid"},
		{[]string{"latency", "--rss-at", "10s"}, "idle only"},
		{[]string{"idle", "--server-pid", "1", "--rss-at", "10s,soon"}, "positive durations"},
		{[]string{"idle", "--server-pid", "1", "--rss-at", "-1s"}, "positive durations"},
		{[]string{"fanout", "--transport", "carrier-pigeon"}, "--transport"},
		{[]string{"storm", "--src", "::1"}, "IPv4"},
		{[]string{"latency", "--rate", "0"}, "ingest only"},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		if code := run(t.Context(), tc.args, &out, &out); code != 2 || !strings.Contains(out.String(), tc.want) {
			t.Errorf("rtbench %v: exit %d, output lacks %q:\n%s", tc.args, code, tc.want, out.String())
		}
	}
}
