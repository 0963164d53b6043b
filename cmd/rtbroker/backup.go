package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/rtbroker/rtbroker/storage/bolt"
)

const backupSynopsis = `rtbroker backup --server URL --out FILE [--api-key K | --token T]

Takes an online backup of a running server: GET /api/admin/backup streams
a consistent copy of its bbolt file (one read transaction: publishing goes
on, and everything acknowledged before the backup started is in it). The
copy is written under a temporary name, checked as rtbroker check does,
and renamed to FILE. To restore it, stop the server and put it in a data
directory as rtbroker.db.`

// runBackup is `rtbroker backup`.
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cmdFlags("backup", backupSynopsis, stderr)
	out := fs.String("out", "", "the file to write the copy to (required)")
	var sf serverFlags
	sf.add(fs, getenv, "the running server's URL (required)", true, true)
	if err := parseCmd(fs, args); err != nil {
		return err
	}
	if sf.server == "" || *out == "" {
		fs.Usage()
		return errors.New("backup: --server URL and --out FILE are required")
	}
	req, err := sf.request(http.MethodGet, "/api/admin/backup", nil, nil)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("backup: %w", serverError(resp))
	}
	defer resp.Body.Close()
	bar := newProgress(stderr, "backup", resp.ContentLength, true)
	var n int64
	var rep *bolt.CheckReport
	err = writeFileAtomic(*out, func(w io.Writer) error {
		var err error
		if n, err = io.Copy(w, bar.reader(resp.Body)); err != nil {
			return err
		}
		if resp.ContentLength >= 0 && n != resp.ContentLength {
			return fmt.Errorf("got %d of %d bytes", n, resp.ContentLength)
		}
		if err := w.(interface{ Sync() error }).Sync(); err != nil {
			return err
		}
		if rep, err = bolt.Check(w.(interface{ Name() string }).Name()); err != nil {
			return err
		}
		if !rep.OK() {
			return fmt.Errorf("the copy fails rtbroker check: %s", rep.Problems[0])
		}
		return nil
	})
	bar.done()
	if err != nil {
		return fmt.Errorf("backup of %s: %w", sf.server, err)
	}
	fmt.Fprintf(stdout, "backed up %s to %s: %d bytes, epoch %s, head %d, %d events in %d rooms; check: ok\n",
		sf.server, *out, n, rep.Epoch, rep.Head, rep.Events, rep.Rooms)
	return nil
}
