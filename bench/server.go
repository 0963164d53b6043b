package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A server is one run's rtbroker or Node peer process, pinned to core 0,
// on a fixed port and (rtbroker) data directory, so that a restart comes
// back where the clients expect it. Methods are safe for concurrent use:
// the restart service calls restart while the suite waits on rtbench.
type server struct {
	target string
	argv   []string // the whole command, taskset first
	url    string
	log    *os.File // the process's stdout and stderr, appended

	mu     sync.Mutex // guards cmd, done and exited
	cmd    *exec.Cmd
	done   chan struct{} // closed once cmd has exited and been reaped
	exited time.Duration // CPU time of the processes that have exited (restarts)
}

// startTimeout bounds how long a server may take to answer /healthz.
const startTimeout = 30 * time.Second

// start runs the process and returns once GET /healthz answers 200.
func (s *server) start(ctx context.Context) error {
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	// Its own process group: a Ctrl-C at the terminal reaches the suite,
	// which stops the server in order, not the server directly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.target, err)
	}
	done := make(chan struct{})
	go func() { // ends when the process does; stop waits for it
		cmd.Wait()
		s.mu.Lock()
		s.exited += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		s.mu.Unlock()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if healthy(ctx, s.url) {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited at startup (%s); see %s", s.target, cmd.ProcessState, s.log.Name())
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer %s/healthz within %s; see %s", s.target, s.url, startTimeout, s.log.Name())
		case <-tick.C:
		}
	}
}

func healthy(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/healthz", nil)
	if err != nil {
		return false
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// pid is the running process's id (taskset execs the server, so this is
// the server itself), or 0.
func (s *server) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// cpu is the CPU time the server's processes have used so far: those that
// exited (before a restart) and the running one, with their children.
func (s *server) cpu() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.exited
	if s.cmd == nil {
		return d
	}
	select {
	case <-s.done: // reaped: counted in exited
	default:
		d += procCPU(s.cmd.Process.Pid)
	}
	return d
}

// stop sends sig and waits for the process to exit; after 15 s it sends
// SIGKILL. Stopping a stopped server does nothing.
func (s *server) stop(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// restart stops the server with sig and starts it again on the same port
// and data directory.
func (s *server) restart(ctx context.Context, sig syscall.Signal) error {
	s.stop(sig)
	return s.start(ctx)
}

// restartService answers the `bench restart` command that rtbench runs as
// --restart-cmd: it listens on a unix socket, reads "term" or "kill",
// restarts the current server with that signal and answers "ok" (or the
// error) once the server is healthy again.
type restartService struct {
	ln  net.Listener
	ctx context.Context
	wg  sync.WaitGroup

	mu  sync.Mutex // guards srv
	srv *server    // the server of the run in progress, or nil
}

func newRestartService(ctx context.Context, path string) (*restartService, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("restart socket: %w", err)
	}
	r := &restartService{ln: ln, ctx: ctx}
	r.wg.Go(r.serve)
	return r, nil
}

// set makes srv the server a restart applies to (nil: none).
func (r *restartService) set(srv *server) {
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
}

func (r *restartService) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return // closed
		}
		r.handle(c) // one restart at a time
	}
}

func (r *restartService) handle(c net.Conn) {
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	sig, ok := map[string]syscall.Signal{"term": syscall.SIGTERM, "kill": syscall.SIGKILL}[strings.TrimSpace(line)]
	r.mu.Lock()
	srv := r.srv
	r.mu.Unlock()
	switch {
	case !ok:
		err = fmt.Errorf("unknown signal %q (want term or kill)", strings.TrimSpace(line))
	case srv == nil:
		err = errors.New("no server is running")
	default:
		err = srv.restart(r.ctx, sig)
	}
	if err != nil {
		fmt.Fprintf(c, "error: %v\n", err)
		return
	}
	fmt.Fprintln(c, "ok")
}

// close stops listening and waits for a restart in progress.
func (r *restartService) close() {
	r.ln.Close()
	r.wg.Wait()
}

// restartCommand is `bench restart --sock PATH --signal term|kill`: it asks
// the suite to restart its server and exits 0 once the server is back.
func restartCommand(args []string) error {
	if len(args) != 4 || args[0] != "--sock" || args[2] != "--signal" {
		return errors.New("usage: bench restart --sock PATH --signal term|kill")
	}
	c, err := net.DialTimeout("unix", args[1], 5*time.Second)
	if err != nil {
		return fmt.Errorf("reach the suite: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * startTimeout))
	fmt.Fprintln(c, args[3])
	answer, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	if answer = strings.TrimSpace(answer); answer != "ok" {
		return fmt.Errorf("restart: %s", answer)
	}
	return nil
}

// freePort returns a loopback port nothing listens on right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
