// Command rtbroker is an event-sourced message broker for browser apps.
//
//	rtbroker serve [flags]   run the broker (see rtbroker serve -h)
//	rtbroker config          print the effective configuration (rtbroker config -h)
//	rtbroker healthcheck     ask a running server's /healthz (for container health checks)
//	rtbroker version         print the version
//	rtbroker check           verify a stopped log (rtbroker check -h)
//	rtbroker recover         salvage a damaged log (rtbroker recover -h)
//	rtbroker tail ROOM       follow a room of a running server
//	rtbroker export, import  move events in and out as NDJSON
//	rtbroker backup          take an online backup of a running server
//	rtbroker compact         compact a stopped log's file
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	minProcs(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtbroker:", err)
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(2)
	}
}

// minProcs runs Go with at least two Ps, unless GOMAXPROCS is set. On one
// CPU (a container or taskset limit) Go would use one P, and the commit's
// fsync, a blocking system call, would then hold it until the runtime's
// monitor hands it off (up to 10 ms later), stalling every request meanwhile:
// on one core, durable HTTP ingest measured 6,100 / 1,800 events/s at 32 /
// 256 connections with one P against 10,000 / 14,400 with two.
func minProcs(getenv func(string) string) {
	if getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
}

const usage = `rtbroker: an event-sourced message broker for browser apps.

Usage:
  rtbroker serve [flags]   run the broker (rtbroker serve -h lists the flags)
  rtbroker config [flags]  print the effective settings of serve with these flags, environment and --config file
  rtbroker healthcheck [--url URL]        exit 0 when a running server's /healthz answers 200
  rtbroker version         print the version, module version and commit
  rtbroker check --data DIR               verify a stopped server's log
  rtbroker recover --data DIR --out DIR2  copy every readable event into a new log
  rtbroker tail ROOM [--after N] [--server URL] [--json]   follow a room live
  rtbroker export --data DIR|--server URL [--room R]… --out FILE   events as NDJSON
  rtbroker import --data DIR|--server URL --in FILE [--append]     load an export
  rtbroker backup --server URL --out FILE  an online copy of a running server's log
  rtbroker compact --data DIR [--out FILE] rewrite a stopped log's file compactly

Each command's flags: rtbroker COMMAND -h
`

// run executes one subcommand until it ends or ctx is cancelled.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		cfg, err := parseConfig("serve", args[1:], getenv, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, cfg.logger(stderr))
	case "config":
		return runConfig(args[1:], getenv, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, args[1:], getenv, stdout, stderr)
	case "check":
		return runCheck(args[1:], getenv, stdout, stderr)
	case "recover":
		return runRecover(args[1:], getenv, stdout, stderr)
	case "tail":
		return runTail(ctx, args[1:], getenv, stdout, stderr)
	case "export":
		return runExport(ctx, args[1:], getenv, stdout, stderr)
	case "import":
		return runImport(ctx, args[1:], getenv, stdout, stderr)
	case "backup":
		return runBackup(ctx, args[1:], getenv, stdout, stderr)
	case "compact":
		return runCompact(args[1:], getenv, stdout, stderr)
	case "version", "--version":
		return runVersion(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return flag.ErrHelp
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
