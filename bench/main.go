package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// maxLoadCPU is the load generator CPU (% of its core) above which a run is
// repeated once and then marked: the figures measure the tool, not the server.
const maxLoadCPU = 80

const usage = `usage: bench/run.sh [flags]   (or: make bench ARGS='flags')

Runs every scenario of issue 5 against rtbroker and the Node Socket.IO peer
in turn (A B A B A B), each run on a fresh server pinned to core 0 with the
load tool (cmd/rtbench) on core 1, takes the median of the repetitions and
writes bench/results/<date>.md (the table, also printed) and <date>.json
(every run's rtbench result).

flags:
`

// config is the command line.
type config struct {
	quick   bool
	only    []string
	target  string
	reps    int
	out     string
	list    bool
	keep    bool
	verbose bool
	rtbench string // a prebuilt load tool instead of building ./cmd/rtbench
	report  string // only render this results file's table again
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == ceilingTarget {
		if err := ceilingCommand(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench ceiling:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "disk" {
		if err := diskCommand(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench disk:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "restart" {
		if err := restartCommand(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench restart:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if cfg.report != "" {
		if err := rewrite(cfg.report); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runSuite(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var cfg config
	var only string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	fs.BoolVar(&cfg.quick, "quick", false, "one repetition at small sizes: a few minutes")
	fs.StringVar(&only, "only", "", "comma-separated scenarios to run: fanout, rooms, latency, idle, replay, storm, ingest, conns, or an id such as fanout-5k")
	fs.StringVar(&cfg.target, "target", "both", "servers to run: rtbroker, node or both")
	fs.IntVar(&cfg.reps, "reps", 0, "repetitions (default 3, 1 with --quick)")
	fs.StringVar(&cfg.out, "out", "bench/results", "directory of the results")
	fs.BoolVar(&cfg.list, "list", false, "print the plan and its estimated time, run nothing")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the work directory (binaries, data, logs)")
	fs.BoolVar(&cfg.verbose, "verbose", false, "show rtbench's progress lines")
	fs.StringVar(&cfg.rtbench, "rtbench", "", "use this rtbench binary instead of building ./cmd/rtbench")
	fs.StringVar(&cfg.report, "report", "", "run nothing: render the table of this results `file` (.json) again into its .md")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if only != "" {
		cfg.only = strings.Split(only, ",")
	}
	if cfg.reps == 0 {
		cfg.reps = 3
		if cfg.quick {
			cfg.reps = 1
		}
	}
	if cfg.reps < 1 {
		return cfg, fmt.Errorf("--reps %d: want at least 1", cfg.reps)
	}
	return cfg, nil
}

// suite is one invocation's state.
type suite struct {
	cfg      config
	scs      []scenario
	work     string // temporary: binaries, data directories, logs
	rtbroker string // binary
	noSync   string // rtbroker built with noSyncTag, the rooms row's ceiling
	rtbench  string // binary
	self     string // this program, for --restart-cmd
	node     string
	extra    []string // rtbroker flags the binary supports (--connect-rate 0)
	help     string   // rtbroker serve -h: the flags it has
	restarts *restartService
	disk     *diskInfo // the disk probe at the start (nil: it failed)
	runs     []run
	started  time.Time
	left     time.Duration // estimated time still to run
}

func runSuite(ctx context.Context, cfg config) error {
	sz := fullSizes
	if cfg.quick {
		sz = quickSizes
	}
	scs, err := selectScenarios(plan(sz), cfg.only, cfg.target)
	if err != nil {
		return err
	}
	s := &suite{cfg: cfg, scs: scs, left: estimate(scs, cfg.reps)}
	fmt.Printf("%d scenarios × %d repetition(s), rtbroker and the Node peer in turn: about %s\n", len(scs), cfg.reps, s.left.Round(time.Minute))
	if cfg.list {
		for _, sc := range scs {
			fmt.Printf("  %-16s %-55s %s\n", sc.id, sc.title, strings.Join(sc.targets, ", "))
		}
		return nil
	}
	if err := s.prepare(ctx); err != nil {
		return err
	}
	defer s.cleanup()
	s.started = time.Now()
	for _, sc := range scs {
		for rep := 1; rep <= cfg.reps; rep++ {
			for _, tgt := range sc.targets {
				if ctx.Err() != nil {
					break
				}
				s.runScenario(ctx, sc, tgt, rep)
			}
		}
	}
	if ctx.Err() != nil {
		fmt.Println("interrupted: writing what has run")
	}
	return s.write()
}

// prepare checks the tools, builds both binaries and starts the restart
// service.
func (s *suite) prepare(ctx context.Context) error {
	for _, f := range []string{"go.mod", "bench/peer/server.mjs"} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("run from the repository root (bench/run.sh does): %w", err)
		}
	}
	if runtime.NumCPU() < 2 {
		return fmt.Errorf("needs 2 cores (server on 0, load on 1); this machine has %d", runtime.NumCPU())
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return fmt.Errorf("taskset (util-linux) is required: %w", err)
	}
	var err error
	if s.node, err = exec.LookPath("node"); err != nil {
		return fmt.Errorf("node is required for the peer: %w", err)
	}
	if _, err := os.Stat("bench/peer/node_modules/socket.io"); err != nil {
		return errors.New("bench/peer has no node_modules: run `make npm` (or `cd bench/peer && npm ci`)")
	}
	if s.self, err = os.Executable(); err != nil {
		return err
	}
	if s.work, err = os.MkdirTemp("", "rtbroker-bench-"); err != nil {
		return err
	}
	s.rtbroker = filepath.Join(s.work, "rtbroker")
	type build struct{ out, pkg, tags string }
	builds := []build{{s.rtbroker, "./cmd/rtbroker", ""}}
	if slices.ContainsFunc(s.scs, func(sc scenario) bool { return slices.Contains(sc.targets, noSyncTarget) }) {
		s.noSync = filepath.Join(s.work, noSyncTarget)
		builds = append(builds, build{s.noSync, "./cmd/rtbroker", noSyncTag})
	}
	if s.rtbench = s.cfg.rtbench; s.rtbench == "" {
		s.rtbench = filepath.Join(s.work, "rtbench")
		builds = append(builds, build{s.rtbench, "./cmd/rtbench", ""})
	} else if s.rtbench, err = filepath.Abs(s.rtbench); err != nil {
		return err
	}
	for _, b := range builds {
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", b.tags, "-o", b.out, b.pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %w", b.pkg, err)
		}
	}
	help, _ := exec.CommandContext(ctx, s.rtbroker, "serve", "-h").CombinedOutput()
	s.help = string(help)
	if strings.Contains(s.help, "--connect-rate") {
		s.extra = append(s.extra, "--connect-rate", "0")
	}
	s.disk = measureDisk(ctx, s.self, s.work)
	s.restarts, err = newRestartService(ctx, filepath.Join(s.work, "restart.sock"))
	return err
}

func (s *suite) cleanup() {
	if s.restarts != nil {
		s.restarts.close()
	}
	if s.cfg.keep {
		fmt.Println("work directory kept:", s.work)
		return
	}
	os.RemoveAll(s.work)
}

// runScenario runs sc once against tgt on a fresh server; when the load
// generator was saturated it runs it once more and keeps the second try.
func (s *suite) runScenario(ctx context.Context, sc scenario, tgt string, rep int) {
	for attempt := 1; attempt <= 2; attempt++ {
		runs := s.attempt(ctx, sc, tgt, rep, attempt)
		s.runs = append(s.runs, runs...)
		saturated := false
		for _, r := range runs {
			saturated = saturated || r.LoadCPU > maxLoadCPU
		}
		if !saturated || ctx.Err() != nil {
			return
		}
		if attempt == 1 {
			fmt.Printf("    load generator above %d %%: running it again\n", maxLoadCPU)
		}
	}
}

// attempt starts a server on a fresh data directory and port, runs the
// steps of sc that apply to tgt, and stops it.
func (s *suite) attempt(ctx context.Context, sc scenario, tgt string, rep, attempt int) []run {
	name := fmt.Sprintf("%s-%s-%d-%d", sc.id, tgt, rep, attempt)
	dir := filepath.Join(s.work, name)
	base := func(i int, st step) run {
		return run{Scenario: sc.id, Step: i, Label: st.label, Target: tgt, Rep: rep, Attempt: attempt}
	}
	var runs []run
	fail := func(err error) []run {
		for i, st := range sc.steps {
			if st.only == "" || st.only == tgt {
				r := base(i, st)
				r.Status, r.Problems = statusFailed, []string{err.Error()}
				runs = append(runs, r)
			}
		}
		fmt.Printf("    %s %s: %v\n", sc.id, tgt, err)
		return runs
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	srv, err := s.newServer(sc, tgt, dir)
	if err != nil {
		return fail(err)
	}
	defer srv.log.Close()
	if err := srv.start(ctx); err != nil {
		return fail(err)
	}
	s.restarts.set(srv)
	defer func() {
		s.restarts.set(nil)
		srv.stop(syscall.SIGTERM)
		if !s.cfg.keep {
			os.RemoveAll(filepath.Join(dir, "data"))
		}
	}()
	for i, st := range sc.steps {
		if st.only != "" && st.only != tgt {
			continue
		}
		r := base(i, st)
		if st.restartBefore {
			if err := srv.restart(ctx, syscall.SIGTERM); err != nil {
				r.Status, r.Problems = statusFailed, []string{err.Error()}
				runs = append(runs, r)
				break
			}
		}
		s.step(ctx, &r, st, srv, filepath.Join(dir, fmt.Sprintf("step%d", i)))
		runs = append(runs, r)
		s.left -= st.estimate
		s.progress(sc, st, r)
		if ctx.Err() != nil {
			break
		}
	}
	return runs
}

// binary returns the rtbroker binary that serves as tgt ("": tgt is not
// an rtbroker).
func (s *suite) binary(tgt string) string {
	switch tgt {
	case "rtbroker":
		return s.rtbroker
	case noSyncTarget:
		return s.noSync
	}
	return ""
}

// newServer describes tgt's process for sc on a new port, with dir for
// its data and log.
func (s *suite) newServer(sc scenario, tgt, dir string) (*server, error) {
	bin := s.binary(tgt)
	if bin != "" {
		for _, a := range sc.rtbrokerArgs {
			name, _, _ := strings.Cut(a, "=")
			if strings.HasPrefix(name, "--") && !strings.Contains(s.help, name) {
				return nil, fmt.Errorf("this rtbroker has no %s flag", name)
			}
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	log, err := os.OpenFile(filepath.Join(dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	argv := []string{"taskset", "-c", "0"}
	if bin != "" {
		argv = append(argv, bin, "serve", "--addr", addr, "--data", filepath.Join(dir, "data"),
			"--log-level", "warn", "--publish-rate", "0", "--max-conns-per-ip", "0")
		argv = append(argv, s.extra...)
		argv = append(argv, sc.rtbrokerArgs...)
	} else if tgt == ceilingTarget {
		argv = append(argv, s.self, ceilingTarget, "--addr", addr)
	} else {
		argv = append(argv, s.node, "bench/peer/server.mjs", "--port", fmt.Sprint(port))
	}
	return &server{target: tgt, argv: argv, url: "http://" + addr, log: log}, nil
}

// step runs rtbench once, pinned to core 1, and fills r from its exit
// status and JSON result.
func (s *suite) step(ctx context.Context, r *run, st step, srv *server, prefix string) {
	jsonFile := prefix + ".json"
	wireTarget, args := r.Target, st.args
	if wireTarget == noSyncTarget {
		wireTarget = "rtbroker"
	} else if wireTarget == ceilingTarget {
		wireTarget = "rtbroker" // the ceiling answers rtbroker's publish and join
		if st.ceilingArgs != nil {
			args = st.ceilingArgs
		}
	}
	r.Args = append(append([]string{}, args...), "--url", srv.url, "--target", wireTarget,
		"--json", jsonFile, "--server-pid", fmt.Sprint(srv.pid()))
	if st.restartCmd != "" {
		r.Args = append(r.Args, "--restart-cmd", shellQuote(s.self, "restart", "--sock", filepath.Join(s.work, "restart.sock"), "--signal", st.restartCmd))
	}
	logf, err := os.Create(prefix + ".log")
	if err != nil {
		r.Status, r.Problems = statusFailed, []string{err.Error()}
		return
	}
	defer logf.Close()
	tctx, cancel := context.WithTimeout(ctx, st.timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, "taskset", append([]string{"-c", "1", s.rtbench}, r.Args...)...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if s.cfg.verbose {
		cmd.Stderr = io.MultiWriter(logf, os.Stderr)
	}
	// rtbench may run worker processes: a timeout kills the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	meter := startCPUMeter(srv.cpu)
	start := time.Now()
	err = cmd.Run()
	r.Seconds = time.Since(start).Seconds()
	var tool time.Duration
	if st := cmd.ProcessState; st != nil {
		// wait4's usage includes the children rtbench waited for (its
		// worker processes, --restart-cmd).
		tool = st.UserTime() + st.SystemTime()
	}
	if other, oerr := meter.otherPct(srv.cpu, tool); oerr == nil {
		r.OtherCPU = &other
	}
	if data, rerr := os.ReadFile(jsonFile); rerr == nil && json.Valid(data) {
		r.Result = data
		var res struct {
			LoadCPU  float64  `json:"load_cpu_pct"`
			Problems []string `json:"problems"`
		}
		json.Unmarshal(data, &res)
		r.LoadCPU, r.Problems = res.LoadCPU, res.Problems
	}
	var exit *exec.ExitError
	switch {
	case tctx.Err() == context.DeadlineExceeded:
		r.Status = statusTimeout
		r.Problems = append(r.Problems, fmt.Sprintf("no result within %s; see %s", st.timeout, logf.Name()))
		r.Result = nil
	case r.Result == nil:
		r.Status = statusFailed
		r.Problems = append(r.Problems, fmt.Sprintf("no JSON result (%v): %s", err, lastLine(logf.Name())))
	case r.LoadCPU > maxLoadCPU:
		r.Status = statusLoadBound
	case errors.As(err, &exit):
		r.Status = statusProblems
	case err != nil:
		r.Status = statusFailed
		r.Problems = append(r.Problems, err.Error())
	default:
		r.Status = statusOK
	}
}

// progress prints one line per finished step.
func (s *suite) progress(sc scenario, st step, r run) {
	what := sc.id
	if st.label != "" {
		what += " (" + st.label + ")"
	}
	var figs []string
	for _, m := range st.metrics {
		if v, ok := r.value(m.path); ok {
			figs = append(figs, m.name+" "+m.unit.format(v))
		}
	}
	other := ""
	if r.OtherCPU != nil {
		other = fmt.Sprintf(", other load %.0f %%", *r.OtherCPU)
		if *r.OtherCPU > maxOtherCPU {
			other += " (busy machine)"
		}
	}
	elapsed := time.Since(s.started).Round(time.Second)
	fmt.Printf("[%s, ~%s left] %s %s #%d: %s — %s, load %.0f %%%s, %.0fs\n", elapsed, max(s.left, 0).Round(time.Minute),
		what, r.Target, r.Rep, r.Status, strings.Join(figs, ", "), r.LoadCPU, other, r.Seconds)
}

// write saves the table and the raw runs under cfg.out and prints the table.
func (s *suite) write() error {
	now := time.Now()
	stamp := now.Format("2006-01-02-1504")
	if s.cfg.quick {
		stamp += "-quick"
	}
	if err := os.MkdirAll(s.cfg.out, 0o755); err != nil {
		return err
	}
	res := results{Date: now.Format(time.RFC3339), Quick: s.cfg.quick, Reps: s.cfg.reps, Machine: machine(s.node, s.disk), Runs: s.runs}
	md := res.markdown(s.scs)
	mdPath := filepath.Join(s.cfg.out, stamp+".md")
	if err := os.WriteFile(mdPath, []byte(md), 0o644); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		return err
	}
	jsonPath := filepath.Join(s.cfg.out, stamp+".json")
	if err := os.WriteFile(jsonPath, raw, 0o644); err != nil {
		return err
	}
	fmt.Printf("\n%s\nwrote %s and %s (%s)\n", md, mdPath, jsonPath, time.Since(s.started).Round(time.Second))
	return nil
}

// rewrite renders the table of a results file again (after a change to
// the table's rows or format), prints it and replaces the .md beside it.
func rewrite(jsonPath string) error {
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		return err
	}
	var res results
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("%s: %w", jsonPath, err)
	}
	sz := fullSizes
	if res.Quick {
		sz = quickSizes
	}
	md := res.markdown(plan(sz))
	mdPath := strings.TrimSuffix(jsonPath, ".json") + ".md"
	fmt.Printf("%s\nwrote %s\n", md, mdPath)
	return os.WriteFile(mdPath, []byte(md), 0o644)
}

// shellQuote joins args into one sh command line.
func shellQuote(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// lastLine is the last non-empty line of a file, for an error message.
func lastLine(path string) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return lines[len(lines)-1]
}
