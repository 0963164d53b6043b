package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/storage/bolt"
)

const compactSynopsis = `rtbroker compact --data DIR [--out FILE]

Rewrites a stopped server's log file without the free pages that
retention and expiry left behind (bbolt's Compact), and reports its size
before and after. Without --out the file is replaced (the copy is written
beside it and renamed over it once complete and checked); with --out the
copy goes to FILE, which must not exist, and the log is left as it is. A
file a running server holds is refused.`

// compactTxSize bounds a transaction of the copy, in bytes.
const compactTxSize = 64 << 20

// runCompact is `rtbroker compact`.
func runCompact(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cmdFlags("compact", compactSynopsis, stderr)
	df := addDataFlags(fs, getenv)
	out := fs.String("out", "", "write the compacted copy to this file (must not exist) instead of replacing the log")
	if err := parseCmd(fs, args); err != nil {
		return err
	}
	data, err := df.dir()
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	src, err := logPath(data)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	dst := *out
	inPlace := dst == ""
	if inPlace {
		dst = src + ".compacting"
		_ = os.Remove(dst) // left by an interrupted run
	} else if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("compact: %s exists: write the copy to a new file", dst)
	}
	if err := applyJournal(src); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	before, after, err := compactFile(src, dst, inPlace)
	if err != nil {
		_ = os.Remove(dst)
		return fmt.Errorf("compact: %w", err)
	}
	fmt.Fprintf(stdout, "compacted %s: %d bytes before, %d after (%.1f%%)", src, before, after, 100*float64(after)/float64(max(before, 1)))
	if !inPlace {
		fmt.Fprintf(stdout, ", written to %s", dst)
	}
	fmt.Fprintln(stdout)
	return nil
}

// lockedByServer is the error for a log file another process holds.
func lockedByServer(path string) error {
	return fmt.Errorf("%s is locked: a server is running on it; stop it first", path)
}

// applyJournal opens the log at path and closes it, which applies the
// commits its journal holds (after a crash), so that a copy of the file
// alone has every commit.
func applyJournal(path string) error {
	l, err := bolt.Open(path, bolt.Options{Timeout: 500 * time.Millisecond})
	if errors.Is(err, bbolt.ErrTimeout) {
		return lockedByServer(path)
	}
	if err != nil {
		return err
	}
	return l.Close()
}

// compactFile copies the log src into a new file dst, checks the copy and,
// when inPlace, renames it over src while src is still held (so no server
// opens the old file meanwhile). It returns both sizes.
func compactFile(src, dst string, inPlace bool) (before, after int64, err error) {
	sdb, err := bbolt.Open(src, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 500 * time.Millisecond})
	if errors.Is(err, bbolt.ErrTimeout) {
		return 0, 0, lockedByServer(src)
	}
	if err != nil {
		return 0, 0, err
	}
	defer sdb.Close()
	st, err := os.Stat(src)
	if err != nil {
		return 0, 0, err
	}
	before = st.Size()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return 0, 0, err
	}
	ddb, err := bbolt.Open(dst, 0o600, &bbolt.Options{PageSize: sdb.Info().PageSize, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return 0, 0, err
	}
	if err := bbolt.Compact(ddb, sdb, compactTxSize); err != nil {
		ddb.Close()
		return 0, 0, err
	}
	if err := ddb.Close(); err != nil {
		return 0, 0, err
	}
	rep, err := bolt.Check(dst)
	if err != nil {
		return 0, 0, err
	}
	if !rep.OK() {
		return 0, 0, fmt.Errorf("the compacted copy fails rtbroker check: %s", rep.Problems[0])
	}
	if st, err = os.Stat(dst); err != nil {
		return 0, 0, err
	}
	if inPlace {
		if err := os.Rename(dst, src); err != nil {
			return 0, 0, err
		}
	}
	return before, st.Size(), nil
}
