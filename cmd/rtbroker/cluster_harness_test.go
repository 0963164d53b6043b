package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The cluster tests' harness: real processes on loopback — nats-server
// built from the Go module, the rtbroker binary, HAProxy from Debian —
// each killable with SIGKILL.

// clusterStartTimeout bounds the start of one process of a cluster test
// (an embedded node waits for a majority of its peers).
const clusterStartTimeout = 90 * time.Second

// natsServerBinary builds nats-server from the Go module this module
// requires (Debian's is too old for per-key expiry and atomic batches).
var natsServerBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "rtbroker-nats-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "nats-server")
	cmd := exec.Command("go", "build", "-o", path, "github.com/nats-io/nats-server/v2")
	cmd.Stderr = os.Stderr
	return path, cmd.Run()
})

// freeTCPPort returns a loopback port nothing listens on now.
func freeTCPPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is a child process of a cluster test, its output kept for the
// failure message.
type proc struct {
	name string
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan struct{} // closed when the process exited
}

// startProc starts bin with args; the process is killed at the end of
// the test. Its stdout and stderr go to p.logs and, line by line, to
// lines when not nil.
func startProc(t testing.TB, name, bin string, args []string, lines func(string)) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), logs: &lockedBuffer{}, done: make(chan struct{})}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.logs.Write([]byte(sc.Text() + "\n"))
			if lines != nil {
				lines(sc.Text())
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		err := p.cmd.Wait()
		pw.Close()
		<-scanned
		p.logs.Write([]byte(fmt.Sprintf("[%s: %v]\n", name, err)))
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- %s output (last 4 KB, without NATS route retries):\n%s", name, tail(withoutRouteRetries(p.logs.String()), 4096))
		}
	})
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// withoutRouteRetries drops the lines of an embedded NATS server retrying
// a route to a dead peer (one per peer and second), which would fill the
// tail shown of a failed test.
func withoutRouteRetries(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if !strings.Contains(line, "Error trying to connect to route") {
			b.WriteString(line)
		}
	}
	return b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// natsCluster is three nats-server processes forming a JetStream cluster.
type natsCluster struct {
	procs []*proc
	urls  []string // client URLs, one per server
}

// natsConf is the configuration of one server of startNATSProcesses:
// its number, client port, store directory, cluster port and routes.
const natsConf = `server_name: nats%d
listen: 127.0.0.1:%d
max_payload: 4MB
jetstream { store_dir: %q }
cluster {
  name: rtb
  listen: 127.0.0.1:%d
  routes: [%s]
}
`

// startNATSProcesses starts a three-node JetStream cluster of nats-server
// processes on loopback and returns once each accepts connections.
func startNATSProcesses(t testing.TB) *natsCluster {
	t.Helper()
	bin, err := natsServerBinary()
	if err != nil {
		t.Fatalf("build nats-server: %v", err)
	}
	const n = 3
	var routes []string
	cports := make([]int, n)
	for i := range cports {
		cports[i] = freeTCPPort(t)
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", cports[i]))
	}
	c := &natsCluster{}
	for i := range n {
		port := freeTCPPort(t)
		conf := fmt.Sprintf(natsConf, i+1, port, t.TempDir(), cports[i], strings.Join(routes, ", "))
		path := filepath.Join(t.TempDir(), "nats.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		c.procs = append(c.procs, startProc(t, fmt.Sprintf("nats%d", i+1), bin, []string{"-c", path}, nil))
		c.urls = append(c.urls, fmt.Sprintf("nats://127.0.0.1:%d", port))
	}
	for i, u := range c.urls {
		waitTCP(t, strings.TrimPrefix(u, "nats://"), c.procs[i])
	}
	return c
}

// waitTCP waits until addr accepts connections, failing the test if p
// exits first or clusterStartTimeout passes.
func waitTCP(t testing.TB, addr string, p *proc) {
	t.Helper()
	deadline := time.Now().Add(clusterStartTimeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before listening on %s:\n%s", p.name, addr, tail(p.logs.String(), 4096))
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s does not listen on %s after %s", p.name, addr, clusterStartTimeout)
}

// rtbNode is one rtbroker process of a cluster test.
type rtbNode struct {
	*proc
	url  string   // http://127.0.0.1:port
	addr string   // 127.0.0.1:port
	args []string // its flags after serve --addr, to start it again
}

// startRTBNodes starts one rtbroker process per argument list (each
// with its own --data), all at once (embedded nodes wait for each
// other), each on a port of its own, and returns once every one listens.
func startRTBNodes(t testing.TB, argss [][]string) []*rtbNode {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatalf("build rtbroker: %v", err)
	}
	nodes := make([]*rtbNode, len(argss))
	listening := make([]chan struct{}, len(argss))
	for i, extra := range argss {
		addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
		args := append([]string{"serve", "--addr", addr, "--publish-rate", "0", "--connect-rate", "0",
			"--max-conns-per-ip", "0", "--nats-start-timeout", "80s"}, extra...)
		ch := make(chan struct{})
		listening[i] = ch
		var once sync.Once
		p := startProc(t, fmt.Sprintf("rtbroker%d", i+1), bin, args, func(line string) {
			if strings.Contains(line, "msg=listening") {
				once.Do(func() { close(ch) })
			}
		})
		nodes[i] = &rtbNode{proc: p, url: "http://" + addr, addr: addr, args: extra}
	}
	for i, n := range nodes {
		select {
		case <-listening[i]:
		case <-n.done:
			t.Fatalf("%s exited before listening:\n%s", n.name, tail(n.logs.String(), 4096))
		case <-time.After(clusterStartTimeout):
			t.Fatalf("%s did not listen within %s:\n%s", n.name, clusterStartTimeout, tail(n.logs.String(), 4096))
		}
	}
	return nodes
}

// externalClusterArgs returns the flags of three rtbroker processes on
// the NATS cluster nc, each given every server's URL.
func externalClusterArgs(t testing.TB, nc *natsCluster) [][]string {
	t.Helper()
	var out [][]string
	for range 3 {
		out = append(out, []string{"--data", t.TempDir(), "--store", "jetstream", "--nats-url", strings.Join(nc.urls, ",")})
	}
	return out
}

// embeddedClusterArgs returns the flags of three rtbroker processes that
// form a JetStream cluster of their own.
func embeddedClusterArgs(t testing.TB) [][]string {
	t.Helper()
	var peers []string
	for range 3 {
		peers = append(peers, fmt.Sprintf("nats://127.0.0.1:%d", freeTCPPort(t)))
	}
	var out [][]string
	for i := range 3 {
		// A client port of its own: a random one could be a peer's
		// cluster port, chosen but not bound yet.
		out = append(out, []string{"--data", t.TempDir(), "--store", "jetstream", "--nats-name", fmt.Sprintf("node%d", i+1), "--cluster-name", "rtb",
			"--nats-listen", fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)),
			"--cluster-listen", strings.TrimPrefix(peers[i], "nats://"), "--cluster-peers", strings.Join(peers, ",")})
	}
	return out
}

// haproxyConfig is the HAProxy configuration of the cluster tests and of
// README's three-node deployment: {{bind}} and {{servers*}} are filled in.
// Engine.IO polling is kept on one node by a cookie (the /socket.io/
// backend); every other request, and a WebSocket, may go to any ready
// node. When no node is ready (the NATS cluster lost quorum) requests go
// to any live node: reads go on, publishes are refused 503.
const haproxyConfig = `defaults
    mode http
    option http-server-close
    timeout connect 2s
    timeout client 65s
    timeout server 65s
    timeout tunnel 1h
    timeout http-keep-alive 10s
    option redispatch
    retries 3

frontend rtbroker
    bind {{bind}}
    acl sio path_beg /socket.io/
    acl any_ready nbsrv(ready) gt 0
    use_backend sio if sio any_ready
    use_backend ready if any_ready
    default_backend live

# Socket.IO: sticky by cookie for Engine.IO polling; a WebSocket is one
# connection and needs no stickiness.
backend sio
    balance roundrobin
    cookie rtbroker-node insert indirect nocache
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost
    default-server check inter 500ms fall 2 rise 2
{{servers_cookie}}

# SSE, long-polling and the REST API: any ready node.
backend ready
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost
    default-server check inter 500ms fall 2 rise 2
{{servers}}

# Every running node, used only while none is ready (the same cookie, so
# that a polling session stays on its node meanwhile).
backend live
    balance roundrobin
    cookie rtbroker-node insert indirect nocache
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost
    default-server check inter 500ms fall 2 rise 2
{{servers_cookie}}
`

// startHAProxy starts HAProxy in front of nodes and returns its base URL
// once every node is up behind it.
func startHAProxy(t testing.TB, nodes []*rtbNode) string {
	t.Helper()
	bin := requireToolAt(t, "haproxy", "/usr/sbin/haproxy")
	bind := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	var servers, cookies []string
	for i, n := range nodes {
		servers = append(servers, fmt.Sprintf("    server n%d %s", i+1, n.addr))
		cookies = append(cookies, fmt.Sprintf("    server n%d %s cookie n%d", i+1, n.addr, i+1))
	}
	cfg := strings.NewReplacer("{{bind}}", bind, "{{servers}}", strings.Join(servers, "\n"),
		"{{servers_cookie}}", strings.Join(cookies, "\n")).Replace(haproxyConfig)
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "haproxy", bin, []string{"-db", "-f", path}, nil)
	waitTCP(t, bind, p)
	lb := "http://" + bind
	// Every node answers through the balancer once it is checked up.
	c := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for ok := 0; ok < 2*len(nodes); {
		if time.Now().After(deadline) {
			t.Fatal("HAProxy: the nodes are not ready behind it within 30s")
		}
		resp, err := c.Get(lb + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		if err != nil || resp.StatusCode != http.StatusOK {
			ok = 0
			time.Sleep(200 * time.Millisecond)
			continue
		}
		ok++
	}
	time.Sleep(time.Second) // two health checks of each server
	return lb
}

// requireToolAt is requireTool for a tool Debian installs outside PATH
// for non-root users.
func requireToolAt(t testing.TB, name, path string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat(path); err == nil {
		return path
	}
	return requireTool(t, name)
}

// waitReady polls base's /readyz until it answers want or timeout passes.
func waitReady(t testing.TB, base string, want int, timeout time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		resp, err := c.Get(base + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			if resp.StatusCode == want {
				return
			}
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s/readyz did not answer %d within %s; last: %s", base, want, timeout, last)
}

// ctxSleep sleeps d or until ctx ends.
func ctxSleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// TestReadmeHAProxyConfig: the HAProxy configuration in README's "Three
// nodes" section is the one the cluster tests run, with the README's
// addresses.
func TestReadmeHAProxyConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const mark = "<!-- readme-test: file haproxy.cfg -->\n```haproxy\n"
	_, rest, ok := strings.Cut(string(b), mark)
	if !ok {
		t.Fatal("README has no haproxy.cfg block")
	}
	got, _, _ := strings.Cut(rest, "```")
	var servers, cookies []string
	for i := range 3 {
		servers = append(servers, fmt.Sprintf("    server n%d 10.0.0.%d:8080", i+1, i+1))
		cookies = append(cookies, fmt.Sprintf("    server n%d 10.0.0.%d:8080 cookie n%d", i+1, i+1, i+1))
	}
	want := strings.NewReplacer("{{bind}}", ":80", "{{servers}}", strings.Join(servers, "\n"),
		"{{servers_cookie}}", strings.Join(cookies, "\n")).Replace(haproxyConfig)
	if got != want {
		t.Errorf("README's haproxy.cfg differs from the tests' haproxyConfig:\n--- README\n%s\n--- tests\n%s", got, want)
	}
}
