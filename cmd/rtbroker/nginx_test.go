package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/gateways/longpoll"
	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
	"github.com/rtbroker/rtbroker/gateways/sse"
)

// nginxPath finds nginx (Debian puts it in /usr/sbin, which a user's PATH
// may lack). In CI a missing nginx fails the test.
func nginxPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return requireTool(t, "nginx")
}

// nginxLocation returns the directives of `location SPEC { … }` in conf.
func nginxLocation(t *testing.T, conf, spec string) string {
	t.Helper()
	i := strings.Index(conf, "location "+spec+" {")
	if i < 0 {
		t.Fatalf("packaging/nginx.conf has no location %s", spec)
	}
	block, _, _ := strings.Cut(conf[i:], "}")
	return block
}

// nginxSeconds is the value of directive in block, in seconds.
func nginxSeconds(t *testing.T, block, directive string) time.Duration {
	t.Helper()
	m := regexp.MustCompile(directive + `\s+(\d+)([smh]);`).FindStringSubmatch(block)
	if m == nil {
		t.Fatalf("no %s in %s", directive, block)
	}
	d, err := time.ParseDuration(m[1] + m[2])
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestNginxConfig: the example's read timeouts outlast the longest
// silence of each transport at the defaults, Socket.IO gets the upgrade
// headers, and only /socket.io/ goes to the sticky upstream.
func TestNginxConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "packaging", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	sio := nginxLocation(t, conf, "/socket.io/")
	if d := nginxSeconds(t, sio, "proxy_read_timeout"); d <= engineio.DefaultPingInterval+engineio.DefaultPingTimeout {
		t.Errorf("/socket.io/ read timeout %v <= ping interval + timeout", d)
	}
	for _, want := range []string{"proxy_set_header Upgrade $http_upgrade;", "proxy_set_header Connection $connection_upgrade;", "proxy_pass http://rtbroker_socketio;", "proxy_set_header Host $host;"} {
		if !strings.Contains(sio, want) {
			t.Errorf("/socket.io/ lacks %q", want)
		}
	}
	if d := nginxSeconds(t, nginxLocation(t, conf, "= /sse"), "proxy_read_timeout"); d <= 2*sse.DefaultHeartbeat {
		t.Errorf("/sse read timeout %v too close to the heartbeat", d)
	}
	if d := nginxSeconds(t, nginxLocation(t, conf, "= /poll"), "proxy_read_timeout"); d <= longpoll.DefaultMaxTimeout {
		t.Errorf("/poll read timeout %v <= --poll-max-timeout", d)
	}
	for _, loc := range []string{"= /sse", "= /poll", "/socket.io/"} {
		if !strings.Contains(nginxLocation(t, conf, loc), "proxy_buffering off;") {
			t.Errorf("%s is buffered", loc)
		}
	}
	if n := strings.Count(conf, "rtbroker_socketio;"); n != 1 {
		t.Errorf("the sticky upstream is used by %d locations, want /socket.io/ only", n)
	}
}

// startNginx runs nginx in the foreground, as this test's child, with
// packaging/nginx.conf in front of backend (host:port), on a free
// 127.0.0.1 port, and returns its base URL.
func startNginx(t *testing.T, backend string) string {
	t.Helper()
	bin := nginxPath(t)
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "packaging", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	site := string(b)
	for old, repl := range map[string]string{"server 127.0.0.1:8080;": "server " + backend + ";", "listen 80;": "listen " + addr + ";"} {
		if !strings.Contains(site, old) {
			t.Fatalf("packaging/nginx.conf has no %q for the test to replace", old)
		}
		site = strings.ReplaceAll(site, old, repl)
	}
	prefix := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers would be nobody, who cannot enter the test's temp dir
	}
	main := fmt.Sprintf(`%s
daemon off;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 512; }
http {
    access_log %[2]s/access.log;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[2]s/rtbroker.conf;
}
`, user, prefix)
	for name, text := range map[string]string{"nginx.conf": main, "rtbroker.conf": site} {
		if err := os.WriteFile(filepath.Join(prefix, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"-p", prefix, "-c", filepath.Join(prefix, "nginx.conf"), "-e", filepath.Join(prefix, "error.log")}
	if out, err := exec.Command(bin, append(args, "-t")...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) // the master stops its workers (SIGKILL would orphan them)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
			t.Logf("nginx error.log:\n%s", log)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNginxProxy: through nginx configured with packaging/nginx.conf, the
// real socket.io-client connects by polling and upgrades to WebSocket,
// joins, publishes and receives; an SSE stream receives an event published
// after it opened; a held long-poll is answered with an event published
// while it waits.
func TestNginxProxy(t *testing.T) {
	node := requireTool(t, "node")
	s := startServer(t, "")
	proxy := startNginx(t, strings.TrimPrefix(s.URL, "http://"))

	t.Run("socket.io polling then websocket", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, node, "testdata/nginx-sio.mjs", proxy, "nginx-sio").CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var r struct {
			First, Transport string
			Joined, Ack      map[string]any
			Got              struct{ Meta map[string]any }
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if r.First != "polling" || r.Transport != "websocket" || r.Joined["ok"] != true || r.Ack["ok"] != true || r.Got.Meta["offset"] != r.Ack["offset"] {
			t.Fatalf("through nginx: %s", out)
		}
	})

	publish := func(room, text string) {
		resp, err := http.Post(proxy+"/api/rooms/"+room+"/events", "application/json", strings.NewReader(`{"type":"chat:message","data":{"text":"`+text+`"}}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("publish through nginx: %s", resp.Status)
		}
	}

	t.Run("sse", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", proxy+"/sse?room=nginx-sse", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("sse through nginx: %s %s", resp.Status, resp.Header.Get("Content-Type"))
		}
		sc := bufio.NewScanner(resp.Body)
		if !sc.Scan() { // the retry: line: the stream is open, unbuffered
			t.Fatalf("no first line: %v", sc.Err())
		}
		publish("nginx-sse", "live over sse")
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data:") && strings.Contains(sc.Text(), "live over sse") {
				return
			}
		}
		t.Fatalf("the event did not arrive over SSE: %v", sc.Err())
	})

	t.Run("long-poll held", func(t *testing.T) {
		type pollAnswer struct {
			status int
			body   string
			err    error
		}
		answer := make(chan pollAnswer, 1)
		go func() {
			resp, err := http.Get(proxy + "/poll?room=nginx-poll&timeout=30s")
			if err != nil {
				answer <- pollAnswer{err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			answer <- pollAnswer{resp.StatusCode, string(b), err}
		}()
		time.Sleep(time.Second) // the poll is held (no after: only new events)
		publish("nginx-poll", "answers the poll")
		select {
		case a := <-answer:
			if a.err != nil || a.status != http.StatusOK || !strings.Contains(a.body, "answers the poll") {
				t.Fatalf("long-poll through nginx: %d %s %v", a.status, a.body, a.err)
			}
		case <-time.After(40 * time.Second):
			t.Fatal("the long-poll was not answered")
		}
	})
}
