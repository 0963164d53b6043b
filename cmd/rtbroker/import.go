package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/messages"
	"github.com/rtbroker/rtbroker/storage/bolt"
)

const importSynopsis = `rtbroker import --data DIR --in FILE [--append]
       rtbroker import --server URL [--api-key K] --in FILE

Loads an export (rtbroker export) into a stopped server's log (--data; the
log is created when missing) or into a running server (--server: POST
/api/admin/import, with an admin API key on a secured server). Events keep
their offsets, ids, times, senders, types and data, so the log must be
empty: a non-empty one is refused. On a stopped log, --append adds the
events after its head instead, with new offsets (ids, times, senders,
types and data kept) and without the export's read positions, which name
the old offsets. The file is read through once to check it before
anything is written; the folded message view is rebuilt afterwards. The
log keeps its own epoch (a new log gets a new one, as after rtbroker
recover): clients positioned in the exported log are told (reset).`

// runImport is `rtbroker import`.
func runImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cmdFlags("import", importSynopsis, stderr)
	df := addDataFlags(fs, getenv)
	in := fs.String("in", "", "the NDJSON export to load (required)")
	appendMode := fs.Bool("append", false, "on a non-empty stopped log: add the events after its head with new offsets (read positions are dropped)")
	var sf serverFlags
	sf.add(fs, getenv, "import into the running server at this URL (its log must be empty) instead of --data", true, false)
	if err := parseCmd(fs, args); err != nil {
		return err
	}
	data, err := df.dir()
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if *in == "" {
		fs.Usage()
		return errors.New("import: --in FILE is required")
	}
	f, err := os.Open(*in)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	hdr, want, err := readDump(ctx, f, cliMaxLine, nil, nil) // check it all before writing anything
	if err != nil {
		return fmt.Errorf("import: %s: %w", *in, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if sf.server != "" {
		if *appendMode {
			return errors.New("import: --append works on a stopped log only (--data)")
		}
		return importRemote(ctx, &sf, f, *in, stdout, stderr)
	}
	return importLocal(ctx, data, f, *in, hdr, want, *appendMode, stdout, stderr)
}

// importLocal loads the checked export f into the log in data.
func importLocal(ctx context.Context, data string, f io.Reader, in string, hdr dumpHeader, want dumpCount, appendMode bool, stdout, stderr io.Writer) error {
	if err := checkDataDir(data); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	path := filepath.Join(data, dbFile)
	l, err := openStopped(path)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer l.Close()
	if head := l.Head(); head > 0 && !appendMode {
		return fmt.Errorf("import: the log %s is not empty (head %d): import writes events at their own offsets into an empty log; "+
			"use a new data directory, or --append to add them after the head with new offsets", path, head)
	}
	sink := &logSink{l: l, renumber: appendMode}
	bar := newProgress(stderr, "import", int64(want.Events), false)
	_, n, err := readDump(ctx, f, cliMaxLine, sink, bar.add)
	bar.done()
	if err != nil {
		return fmt.Errorf("import: %s (after %d events were written): %w", in, sink.written, err)
	}
	changed, err := rebuildMessages(ctx, l)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if appendMode {
		fmt.Fprintf(stdout, "appended %d events of %s (exported from epoch %s) to %s as offsets %d to %d (epoch %s); %d read positions dropped\n",
			n.Events, in, hdr.Epoch, path, sink.first, sink.last, l.Epoch(), n.States)
	} else {
		fmt.Fprintf(stdout, "imported %d events (offsets %d to %d) and %d read positions of %s (exported from epoch %s) into %s (epoch %s)\n",
			n.Events, n.First, n.Last, n.States, in, hdr.Epoch, path, l.Epoch())
	}
	fmt.Fprintf(stdout, "rebuilt the folded message view: %d changed messages\n", changed)
	return nil
}

// rebuildMessages rebuilds the folded message view of the stopped log l
// from its events (see messages.Service.Rebuild).
func rebuildMessages(ctx context.Context, l *bolt.Log) (int, error) {
	b := broker.New(l, broker.Config{})
	defer b.Close()
	n, err := messages.New(b, messages.Config{}).Rebuild(ctx)
	if err != nil {
		return n, fmt.Errorf("rebuild the folded message view: %w", err)
	}
	return n, nil
}

// logSink writes an import into a stopped bbolt log: at the events' own
// offsets, or (renumber) appended with new ones.
type logSink struct {
	l           *bolt.Log
	renumber    bool
	written     int
	first, last uint64 // offsets written
}

func (s *logSink) events(ctx context.Context, evs []*broker.Event) error {
	if s.renumber {
		entries := make([]broker.Entry, len(evs))
		for i, ev := range evs {
			if err := errors.Join(broker.ValidateRoom(ev.Room), broker.ValidateType(ev.Type)); err != nil {
				return fmt.Errorf("event %d: %w", ev.Offset, err)
			}
			entries[i] = broker.Entry{ID: ev.ID, Room: ev.Room, Type: ev.Type, Data: ev.Data, Time: ev.Time, From: ev.From}
		}
		out, err := s.l.Append(ctx, entries)
		if err != nil {
			return err
		}
		evs = out
	} else if err := s.l.Import(ctx, evs); err != nil {
		return err
	}
	if s.first == 0 {
		s.first = evs[0].Offset
	}
	s.last = evs[len(evs)-1].Offset
	s.written += len(evs)
	return nil
}

func (s *logSink) states(ctx context.Context, recs []broker.Record) error {
	if s.renumber {
		return nil // read positions name the old offsets
	}
	return s.l.Put(ctx, recs)
}

// importRemote posts the export f to POST /api/admin/import.
func importRemote(ctx context.Context, sf *serverFlags, f *os.File, in string, stdout, stderr io.Writer) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	bar := newProgress(stderr, "import", st.Size(), true)
	req, err := sf.request(http.MethodPost, "/api/admin/import", nil, bar.reader(f))
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	bar.done()
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("import into %s: %w", sf.server, serverError(resp))
	}
	defer resp.Body.Close()
	var r importResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("import: the server's answer: %w", err)
	}
	fmt.Fprintf(stdout, "imported %d events (offsets %d to %d) and %d read positions of %s into %s (epoch %s, head %d)\n",
		r.Events, r.First, r.Last, r.States, in, sf.server, r.Epoch, r.Head)
	return nil
}

// importResult is the answer of POST /api/admin/import.
type importResult struct {
	Events int    `json:"events"`
	States int    `json:"states"`
	First  uint64 `json:"first"`
	Last   uint64 `json:"last"`
	Head   uint64 `json:"head"`
	Epoch  string `json:"epoch"`
}
