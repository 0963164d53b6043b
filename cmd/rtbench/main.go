// Command rtbench is rtbroker's load tool: it opens many subscribers over
// Socket.IO (WebSocket, polling), SSE or long-poll against rtbroker or the
// Node Socket.IO peer, publishes time-stamped events, and reports
// deliveries/s, publish→deliver latency, missed and duplicated events
// (checked by offset), connect times and failures, and CPU and memory.
//
//	rtbench <scenario> [flags]   (rtbench -h lists scenarios and flags)
//
// Past --proc-conns connections it runs its subscribers in worker
// processes (itself, as `rtbench worker`).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		// The coordinator ends its workers by closing their input.
		signal.Ignore(os.Interrupt, syscall.SIGTERM)
		if err := runWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "rtbench worker:", err)
			os.Exit(2)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one scenario and returns the exit status: 0 when the run
// was clean, 1 when it found a problem, 2 on bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// The progress lines and the workers' diagnostics share stderr.
	stderr = &lockedWriter{w: stderr}
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "rtbench:", err)
		return 2
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "rtbench:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	res := execute(ctx, cfg, stderr)
	res.printTable(stdout)
	if cfg.JSON != "" {
		if err := res.writeJSON(cfg.JSON); err != nil {
			fmt.Fprintln(stderr, "rtbench:", err)
			return 2
		}
	}
	if !res.OK {
		return 1
	}
	return 0
}

// execute runs the scenario of cfg and returns its judged result.
func execute(ctx context.Context, cfg *config, stderr io.Writer) *result {
	if cfg.Scenario == "smoke" {
		return smoke(ctx, cfg, stderr)
	}
	b := newBench(cfg, stderr)
	err := b.runScenario(ctx)
	b.close()
	if err != nil {
		b.res.problem("%v", err)
	}
	b.res.judge()
	return b.res
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
