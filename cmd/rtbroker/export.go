package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/rtbroker/rtbroker/broker"
)

const exportSynopsis = `rtbroker export --data DIR [--room R]… --out FILE
       rtbroker export --server URL [--api-key K] [--room R]… --out FILE

Writes the events of a log (every room, or the --room ones) as NDJSON, with
their offsets, ids, times, senders, types and data, and the read positions
in those rooms; a stopped server's log with --data, a running server's with
--server (GET /api/admin/export, with an admin API key on a secured
server). The file is written under a temporary name and renamed when
complete; --out - writes to standard output (and the summary to standard
error). rtbroker import loads it back.`

// roomsFlag is a repeatable --room.
type roomsFlag []string

func (r *roomsFlag) String() string { return strings.Join(*r, ",") }

func (r *roomsFlag) Set(v string) error {
	if err := broker.ValidateRoom(v); err != nil {
		return err
	}
	*r = append(*r, v)
	return nil
}

// runExport is `rtbroker export`.
func runExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cmdFlags("export", exportSynopsis, stderr)
	df := addDataFlags(fs, getenv)
	var rooms roomsFlag
	fs.Var(&rooms, "room", "export only this room (repeat for several; default: every room)")
	out := fs.String("out", "", "the NDJSON file to write (required; - for standard output)")
	var sf serverFlags
	sf.add(fs, getenv, "export from the running server at this URL instead of --data", true, false)
	if err := parseCmd(fs, args); err != nil {
		return err
	}
	data, err := df.dir()
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if *out == "" {
		fs.Usage()
		return errors.New("export: --out FILE is required")
	}
	if *out == "-" { // the data on stdout, the summary on stderr
		return exportStdout(ctx, data, &sf, rooms, stdout, stderr)
	}
	if sf.server != "" {
		return exportRemote(ctx, &sf, rooms, *out, stdout, stderr)
	}
	path, err := logPath(data)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	l, err := openStopped(path)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer l.Close()
	bar := newProgress(stderr, "export", -1, false)
	var n dumpCount
	err = writeFileAtomic(*out, func(w io.Writer) error {
		var err error
		n, err = writeDump(ctx, w, dumpSource{log: l, scan: l.Scan}, rooms, bar.setTotal, bar.add)
		return err
	})
	bar.done()
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(stdout, "exported %d events (offsets %d to %d) and %d read positions from %s (epoch %s, head %d) to %s\n",
		n.Events, n.First, n.Last, n.States, path, l.Epoch(), l.Head(), *out)
	return nil
}

// exportStdout writes the export to stdout: from the server (as it
// comes, unchecked) or from the stopped log in data.
func exportStdout(ctx context.Context, data string, sf *serverFlags, rooms []string, stdout, stderr io.Writer) error {
	if sf.server != "" {
		resp, err := getExport(ctx, sf, rooms)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		n, err := io.Copy(stdout, resp.Body)
		if err != nil {
			return fmt.Errorf("export from %s after %d bytes: %w", sf.server, n, err)
		}
		fmt.Fprintf(stderr, "exported %d bytes from %s\n", n, sf.server)
		return nil
	}
	path, err := logPath(data)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	l, err := openStopped(path)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer l.Close()
	n, err := writeDump(ctx, stdout, dumpSource{log: l, scan: l.Scan}, rooms, nil, nil)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(stderr, "exported %d events (offsets %d to %d) and %d read positions from %s (epoch %s, head %d)\n",
		n.Events, n.First, n.Last, n.States, path, l.Epoch(), l.Head())
	return nil
}

// exportRemote downloads GET /api/admin/export into out, then reads it
// back to check that it is complete.
func exportRemote(ctx context.Context, sf *serverFlags, rooms []string, out string, stdout, stderr io.Writer) error {
	resp, err := getExport(ctx, sf, rooms)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	bar := newProgress(stderr, "export", resp.ContentLength, true)
	var n dumpCount
	var hdr dumpHeader
	err = writeFileAtomic(out, func(w io.Writer) error {
		if _, err := io.Copy(w, bar.reader(resp.Body)); err != nil {
			return err
		}
		f, err := os.Open(w.(*os.File).Name())
		if err != nil {
			return err
		}
		defer f.Close()
		hdr, n, err = readDump(ctx, f, cliMaxLine, nil, nil)
		return err
	})
	bar.done()
	if err != nil {
		return fmt.Errorf("export from %s: %w", sf.server, err)
	}
	fmt.Fprintf(stdout, "exported %d events (offsets %d to %d) and %d read positions from %s (epoch %s, head %d) to %s\n",
		n.Events, n.First, n.Last, n.States, sf.server, hdr.Epoch, hdr.Head, out)
	return nil
}

// parseCmd parses a subcommand's flags; there are no positional
// arguments.
func parseCmd(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// getExport starts GET /api/admin/export of rooms (every room when none)
// on the server; the caller closes the body of the 200 answer it returns.
func getExport(ctx context.Context, sf *serverFlags, rooms []string) (*http.Response, error) {
	req, err := sf.request(http.MethodGet, "/api/admin/export", url.Values{"room": rooms}, nil)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("export: %w", serverError(resp))
	}
	return resp, nil
}
