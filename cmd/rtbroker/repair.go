package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/rtbroker/rtbroker/storage/bolt"
)

// errCheckFailed is the error of `rtbroker check` on a log with problems
// (exit status 2, after the report).
var errCheckFailed = errors.New("check found problems: stop the server and run `rtbroker recover`")

// repairFlags parses the flags of check (out == nil) or recover: --data
// and --config (addDataFlags) and --out.
func repairFlags(name string, args []string, getenv func(string) string, stderr io.Writer, out *string) (data string, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	df := addDataFlags(fs, getenv)
	if out != nil {
		fs.StringVar(out, "out", "", "new data directory to write the recovered log into (must not hold a log)")
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if out != nil && *out == "" {
		return "", errors.New("recover: --out DIR is required")
	}
	if data, err = df.dir(); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return data, nil
}

// runCheck is `rtbroker check --data DIR`: it verifies the log of a
// stopped server and prints a report; it fails when it found problems.
func runCheck(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	data, err := repairFlags("check", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	path := filepath.Join(data, dbFile)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	rep, err := bolt.Check(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: epoch %s, head %d, indexed %d: %d events, %d rooms, %d state records\n",
		path, rep.Epoch, rep.Head, rep.Indexed, rep.Events, rep.Rooms, rep.States)
	if rep.Journaled > 0 {
		fmt.Fprintf(stdout, "journal: %d appends (%d events, up to offset %d) not in the file yet: the server applies them when it starts\n",
			rep.Journaled, rep.JournalEvents, rep.JournalHead)
	}
	if rep.OK() {
		fmt.Fprintln(stdout, "ok: no problem found")
		return nil
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(stdout, "problem:", p)
	}
	if rep.More > 0 {
		fmt.Fprintf(stdout, "… and %d more problems\n", rep.More)
	}
	return errCheckFailed
}

// runRecover is `rtbroker recover --data DIR --out DIR2`: it copies every
// readable event of the stopped server's log into a new log in DIR2 (same
// offsets and ids, a new epoch) and prints what was lost.
func runRecover(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var out string
	data, err := repairFlags("recover", args, getenv, stderr, &out)
	if err != nil {
		return err
	}
	src, dst := filepath.Join(data, dbFile), filepath.Join(out, dbFile)
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	rep, err := bolt.Salvage(src, dst)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "recovered %d events (offsets %d to %d) from %s (epoch %s, head %d) into %s (new epoch %s)\n",
		rep.Events, rep.First, rep.Last, src, rep.OldEpoch, rep.OldHead, dst, rep.NewEpoch)
	if rep.Journaled > 0 {
		fmt.Fprintf(stdout, "of them %d from the journal (acknowledged, not in the file yet)\n", rep.Journaled)
	}
	for _, r := range rep.Lost {
		fmt.Fprintf(stdout, "lost: offsets %d to %d (on damaged pages; offsets retention had removed are included)\n", r.From, r.To)
	}
	if len(rep.Undecodable) > 0 {
		fmt.Fprintf(stdout, "lost: %d events that did not decode, offsets %v\n", len(rep.Undecodable), rep.Undecodable)
	}
	if len(rep.Lost) == 0 && len(rep.Undecodable) == 0 {
		fmt.Fprintln(stdout, "nothing lost")
	}
	fmt.Fprintln(stdout, "idempotency keys and state records (sessions, read positions) are not carried over; clients are told of the new epoch")
	return nil
}
