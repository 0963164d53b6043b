package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// Above a few thousand connections the subscribers run in worker
// processes (each under the open-files cap): the tool re-executes itself
// as `rtbench worker`, which reads one JSON request per line on stdin and
// answers one JSON line on stdout, in order:
//
//	{"op":"start","spec":{…}}          → {"op":"started"} (clients connect meanwhile)
//	{"op":"stats","expected":[n,…]}    → {"op":"stats","stats":{…}}
//	{"op":"drop"}                      → {"op":"dropped","dropped":N}
//	{"op":"expect-drop"}               → {"op":"dropped","dropped":N} (see fleet.drop)
//
// End of input stops the clients and ends the worker. Errors are answered
// {"op":"error","error":"…"}.

// workerMsg is a request or an answer.
type workerMsg struct {
	Op       string      `json:"op"`
	Spec     *fleetSpec  `json:"spec,omitempty"`
	Expected []uint64    `json:"expected,omitempty"`
	Stats    *fleetStats `json:"stats,omitempty"`
	Dropped  int         `json:"dropped,omitempty"`
	Error    string      `json:"error,omitempty"`
}

// runWorker serves requests from in until it ends.
func runWorker(in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	enc := json.NewEncoder(out)
	var f *fleet
	defer func() {
		if f != nil {
			f.close()
		}
	}()
	for sc.Scan() {
		var req workerMsg
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			return fmt.Errorf("worker: bad request: %w", err)
		}
		var ans workerMsg
		switch {
		case req.Op == "start" && f == nil && req.Spec != nil:
			var err error
			if f, err = startFleet(*req.Spec); err != nil {
				ans = workerMsg{Op: "error", Error: err.Error()}
				break
			}
			ans = workerMsg{Op: "started"}
		case req.Op == "stats" && f != nil:
			ans = workerMsg{Op: "stats", Stats: f.stats(req.Expected)}
		case (req.Op == "drop" || req.Op == "expect-drop") && f != nil:
			ans = workerMsg{Op: "dropped", Dropped: f.drop(req.Op == "drop")}
		default:
			ans = workerMsg{Op: "error", Error: fmt.Sprintf("unexpected request %q", req.Op)}
		}
		if err := enc.Encode(&ans); err != nil {
			return err
		}
	}
	return sc.Err()
}

// remote is a worker process, driven one request at a time.
type remote struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	enc  *json.Encoder
	sc   *bufio.Scanner
	mu   sync.Mutex // one request at a time
	dead error
}

// startRemote starts a worker process running this executable.
func startRemote(stderr io.Writer) (*remote, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "worker")
	cmd.Env = append(os.Environ(), "RTBENCH_WORKER=1")
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	return &remote{cmd: cmd, in: in, enc: json.NewEncoder(in), sc: sc}, nil
}

// call sends a request and reads its answer.
func (r *remote) call(req workerMsg) (workerMsg, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead != nil {
		return workerMsg{}, r.dead
	}
	var ans workerMsg
	err := r.enc.Encode(&req)
	if err == nil {
		if !r.sc.Scan() {
			err = r.sc.Err()
			if err == nil {
				err = errors.New("worker exited")
			}
		} else {
			err = json.Unmarshal(r.sc.Bytes(), &ans)
		}
	}
	if err != nil {
		r.dead = fmt.Errorf("worker %d: %w", r.cmd.Process.Pid, err)
		return workerMsg{}, r.dead
	}
	if ans.Op == "error" {
		return ans, fmt.Errorf("worker %d: %s", r.cmd.Process.Pid, ans.Error)
	}
	return ans, nil
}

// close ends the worker (its clients close) and waits for it.
func (r *remote) close() {
	r.in.Close()
	done := make(chan struct{})
	go func() { r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		r.cmd.Process.Kill()
		<-done
	}
}

// group is the run's subscribers: in this process, or split over workers.
type group struct {
	local   *fleet
	remotes []*remote
	clients int
}

// startGroup starts the clients of spec (Lo..Hi is the whole run) in this
// process when they need at most perProc connections, else in workers of
// at most perProc connections each. The clients connect meanwhile: see
// waitSettled.
func startGroup(spec fleetSpec, perProc int, stderr io.Writer) (*group, error) {
	n := spec.Hi - spec.Lo
	procs := (n*fdsPerClient(spec.Transport) + perProc - 1) / max(perProc, 1)
	if procs <= 1 {
		f, err := startFleet(spec)
		if err != nil {
			return nil, err
		}
		return &group{local: f, clients: n}, nil
	}
	g := &group{clients: n}
	for range procs {
		r, err := startRemote(stderr)
		if err != nil {
			g.close()
			return nil, err
		}
		g.remotes = append(g.remotes, r)
	}
	errs := make([]error, procs)
	var wg sync.WaitGroup
	for i, r := range g.remotes {
		s := spec
		s.Parallel = (spec.Parallel + procs - 1) / procs // --parallel is for the whole run
		s.Lo = spec.Lo + n*i/procs
		s.Hi = spec.Lo + n*(i+1)/procs
		wg.Go(func() { _, errs[i] = r.call(workerMsg{Op: "start", Spec: &s}) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		g.close()
		return nil, err
	}
	return g, nil
}

// waitSettled waits until every client has subscribed or failed.
func (g *group) waitSettled(ctx context.Context) error {
	if g.local != nil {
		return g.local.waitSettled(ctx)
	}
	for {
		s, err := g.stats(nil)
		if err != nil {
			return err
		}
		if s.Settled >= g.clients {
			return nil
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// fdsPerClient is how many connections a subscriber holds.
func fdsPerClient(transport string) int {
	if transport == "polling" {
		return 2
	}
	return 1
}

// stats merges the fleets' stats (see fleet.stats).
func (g *group) stats(expected []uint64) (*fleetStats, error) {
	if g.local != nil {
		return g.local.stats(expected), nil
	}
	all := make([]*fleetStats, len(g.remotes))
	errs := make([]error, len(g.remotes))
	var wg sync.WaitGroup
	for i, r := range g.remotes {
		wg.Go(func() {
			ans, err := r.call(workerMsg{Op: "stats", Expected: expected})
			all[i], errs[i] = ans.Stats, err
		})
	}
	wg.Wait()
	s := &fleetStats{}
	for _, o := range all {
		if o != nil {
			s.merge(o)
		}
	}
	return s, errors.Join(errs...)
}

// drop drops every subscribed client at once; it returns how many.
func (g *group) drop() (int, error) { return g.dropOp("drop") }

// expectDrop tells the clients their connections are about to break
// (see fleet.drop); it returns how many are subscribed.
func (g *group) expectDrop() (int, error) { return g.dropOp("expect-drop") }

func (g *group) dropOp(op string) (int, error) {
	if g.local != nil {
		return g.local.drop(op == "drop"), nil
	}
	counts := make([]int, len(g.remotes))
	errs := make([]error, len(g.remotes))
	var wg sync.WaitGroup
	for i, r := range g.remotes {
		wg.Go(func() {
			ans, err := r.call(workerMsg{Op: op})
			counts[i], errs[i] = ans.Dropped, err
		})
	}
	wg.Wait()
	n := 0
	for _, c := range counts {
		n += c
	}
	return n, errors.Join(errs...)
}

// pids lists the worker processes.
func (g *group) pids() []int {
	var p []int
	for _, r := range g.remotes {
		p = append(p, r.cmd.Process.Pid)
	}
	return p
}

// close stops every client (and worker).
func (g *group) close() {
	if g.local != nil {
		g.local.close()
	}
	var wg sync.WaitGroup
	for _, r := range g.remotes {
		wg.Go(r.close)
	}
	wg.Wait()
}
