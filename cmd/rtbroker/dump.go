package main

// The export format: NDJSON, one JSON object per line, shared by
// `rtbroker export`/`import` on a stopped log and GET /api/admin/export,
// POST /api/admin/import on a running server:
//
//	{"format":"rtbroker-export","version":1,"epoch":"01…","head":42,"rooms":["lobby"],"time":"…"}
//	{"offset":1,"id":"01…","room":"lobby","type":"chat:message","data":{…},"time":"…","from":"ada"}
//	…
//	{"state":"read/ada/lobby","value":"eyJvZmZzZXQiOjF9"}
//	{"end":{"events":41,"states":1}}
//
// The header comes first (rooms: the --room filter, absent for every
// room); the events follow in offset order, in the shape of the HTTP API;
// then the state records worth keeping, read positions (value in base64,
// expires when the record expires); the end line last, with the counts,
// so that a truncated file is detected. Socket.IO sessions are left out
// (they expire within the recovery window) and so is the folded message
// view, a projection rebuilt from the events.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/receipts"
)

const (
	dumpFormat  = "rtbroker-export"
	dumpVersion = 1
	// dumpReadBatch is how many events an export reads at once.
	dumpReadBatch = 1000
	// dumpWriteBatch and dumpWriteBytes bound the events an import writes
	// per transaction.
	dumpWriteBatch = 5000
	dumpWriteBytes = 8 << 20
	// cliMaxLine bounds a line of an export read from a file: generous,
	// as the limits of the server that wrote it are not known.
	cliMaxLine = 16 << 20
)

// dumpHeader is the first line of an export.
type dumpHeader struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Epoch   string    `json:"epoch"`
	Head    uint64    `json:"head"`
	Rooms   []string  `json:"rooms,omitempty"`
	Time    time.Time `json:"time"`
}

// dumpCount is what an export holds, or an import read: the end line.
type dumpCount struct {
	Events int `json:"events"`
	States int `json:"states"`
	// First and Last are the offsets of the first and last event (not
	// written in the end line).
	First uint64 `json:"-"`
	Last  uint64 `json:"-"`
}

// dumpSource is what an export reads: a log and the scan of its state
// store (nil: no state is exported).
type dumpSource struct {
	log  broker.Log
	scan func(ctx context.Context, prefix string, fn func(broker.Record) bool) error
}

// writeDump writes the export of src to w: the events of rooms (every
// room when empty) up to the head at its start, in offset order, the read
// positions in those rooms, and the end line. A running server's
// publishes during the export are not in it. progress, when not nil, is
// called with the number of events of each batch written; total is
// called first with the number of events to expect.
func writeDump(ctx context.Context, w io.Writer, src dumpSource, rooms []string, total, progress func(int)) (dumpCount, error) {
	var n dumpCount
	head := src.log.Head()
	all, err := src.log.Rooms(ctx)
	if err != nil {
		return n, fmt.Errorf("list rooms: %w", err)
	}
	var names []string
	expect := 0
	for _, ri := range all {
		if (len(rooms) == 0 || slices.Contains(rooms, ri.Name)) && !broker.IsInternalRoom(ri.Name) {
			names = append(names, ri.Name)
			expect += int(ri.Count)
		}
	}
	if total != nil {
		total(expect)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	hb, _ := json.Marshal(dumpHeader{Format: dumpFormat, Version: dumpVersion, Epoch: src.log.Epoch(), Head: head, Rooms: rooms, Time: time.Now().UTC()})
	bw.Write(append(hb, '\n'))
	var buf []byte
	for after := uint64(0); len(names) > 0 && after < head; {
		res, err := src.log.Read(ctx, names, after, dumpReadBatch)
		if err != nil {
			return n, fmt.Errorf("read events after offset %d: %w", after, err)
		}
		written := 0
		for _, ev := range res.Events {
			if ev.Offset > head {
				break
			}
			buf = append(ev.AppendJSON(buf[:0]), '\n')
			if _, err := bw.Write(buf); err != nil {
				return n, err
			}
			if n.First == 0 {
				n.First = ev.Offset
			}
			n.Last = ev.Offset
			n.Events++
			written++
		}
		if progress != nil && written > 0 {
			progress(written)
		}
		if res.Through <= after {
			break // nothing more to read
		}
		after = res.Through
	}
	if src.scan != nil {
		states, err := writeDumpStates(ctx, bw, src.scan, names)
		n.States = states
		if err != nil {
			return n, err
		}
	}
	eb, _ := json.Marshal(struct {
		End dumpCount `json:"end"`
	}{n})
	bw.Write(append(eb, '\n'))
	return n, bw.Flush()
}

// writeDumpStates writes the read positions in rooms.
func writeDumpStates(ctx context.Context, w io.Writer, scan func(context.Context, string, func(broker.Record) bool) error, rooms []string) (int, error) {
	in := make(map[string]bool, len(rooms))
	for _, r := range rooms {
		in[r] = true
	}
	var recs []broker.Record
	err := scan(ctx, receipts.KeyPrefix, func(r broker.Record) bool {
		if in[readPositionRoom(r.Key)] {
			recs = append(recs, r)
		}
		return true
	})
	if err != nil {
		return 0, fmt.Errorf("read the read positions: %w", err)
	}
	for _, r := range recs {
		line := dumpState{State: r.Key, Value: r.Value}
		if !r.Expires.IsZero() {
			line.Expires = &r.Expires
		}
		b, _ := json.Marshal(line)
		if _, err := w.Write(append(b, '\n')); err != nil {
			return 0, err
		}
	}
	return len(recs), nil
}

// readPositionRoom is the room of a read position's key (receipts.Key:
// "read/<escaped subject>/<room>").
func readPositionRoom(key string) string {
	_, room, _ := strings.Cut(strings.TrimPrefix(key, receipts.KeyPrefix), "/")
	return room
}

// dumpState is a state record's line.
type dumpState struct {
	State   string     `json:"state"`
	Value   []byte     `json:"value"`
	Expires *time.Time `json:"expires,omitempty"`
}

// dumpLine is any line of an export, decoded.
type dumpLine struct {
	dumpHeader
	Offset uint64          `json:"offset"`
	ID     ulid.ULID       `json:"id"`
	Room   string          `json:"room"`
	Type   string          `json:"type"`
	Data   json.RawMessage `json:"data"`
	From   string          `json:"from"`
	dumpState
	End *dumpCount `json:"end"`
}

// dumpSink is where an import writes what it reads.
type dumpSink interface {
	// events writes a batch of events, in offset order.
	events(ctx context.Context, evs []*broker.Event) error
	// states writes state records.
	states(ctx context.Context, recs []broker.Record) error
}

// errDump marks a malformed export: the line number and what is wrong.
func errDump(line int, format string, args ...any) error {
	return fmt.Errorf("%w: export line %d: %s", broker.ErrInvalid, line, fmt.Sprintf(format, args...))
}

// readDump reads an export from r and writes it to sink (nil: only
// check it) in batches; lines longer than maxLine fail with an error
// wrapping broker.ErrTooLarge, malformed ones with broker.ErrInvalid
// (naming the line). It checks the header, that the offsets ascend, and
// the end line and its counts: a truncated export fails after what it held
// was written. progress, when not nil, is called with the events of each
// batch written.
func readDump(ctx context.Context, r io.Reader, maxLine int, sink dumpSink, progress func(int)) (dumpHeader, dumpCount, error) {
	var (
		hdr   dumpHeader
		n     dumpCount
		evs   []*broker.Event
		recs  []broker.Record
		size  int
		ended bool
	)
	flush := func() error {
		if len(evs) > 0 && sink != nil {
			if err := sink.events(ctx, evs); err != nil {
				return err
			}
		}
		if progress != nil && len(evs) > 0 {
			progress(len(evs))
		}
		evs, size = nil, 0
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		if err := sc.Err(); err != nil {
			// The reader failed (a body that stopped coming): this last
			// line is cut short, and the failure is the answer.
			return hdr, n, err
		}
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		if ended {
			return hdr, n, errDump(line, "a line after the end line")
		}
		var l dumpLine
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return hdr, n, errDump(line, "not an export line: %v", err)
		}
		if dec.More() {
			return hdr, n, errDump(line, "more than one JSON value")
		}
		switch {
		case line == 1:
			if l.Format != dumpFormat || l.Version != dumpVersion {
				return hdr, n, errDump(line, "not the header of an rtbroker export (want format %q, version %d)", dumpFormat, dumpVersion)
			}
			hdr = l.dumpHeader
		case l.Offset > 0:
			if l.ID == (ulid.ULID{}) {
				return hdr, n, errDump(line, "event %d has no id", l.Offset)
			}
			if l.Offset <= n.Last {
				return hdr, n, errDump(line, "offset %d after %d: offsets must ascend", l.Offset, n.Last)
			}
			if n.First == 0 {
				n.First = l.Offset
			}
			n.Last = l.Offset
			n.Events++
			evs = append(evs, &broker.Event{Offset: l.Offset, ID: l.ID, Room: l.Room, Type: l.Type, Data: l.Data, Time: l.dumpHeader.Time.UTC(), From: l.From})
			size += len(b)
			if len(evs) >= dumpWriteBatch || size >= dumpWriteBytes {
				if err := flush(); err != nil {
					return hdr, n, err
				}
			}
		case l.State != "":
			rec := broker.Record{Key: l.State, Value: l.Value}
			if rec.Value == nil {
				rec.Value = []byte{}
			}
			if l.Expires != nil {
				rec.Expires = *l.Expires
			}
			if !strings.HasPrefix(rec.Key, receipts.KeyPrefix) {
				return hdr, n, errDump(line, "state record %q: only read positions (%s…) are imported", rec.Key, receipts.KeyPrefix)
			}
			if err := broker.ValidateRecord(rec); err != nil {
				return hdr, n, errDump(line, "%v", err)
			}
			n.States++
			recs = append(recs, rec)
		case l.End != nil:
			if l.End.Events != n.Events || l.End.States != n.States {
				return hdr, n, errDump(line, "the end line counts %d events and %d state records, the export holds %d and %d",
					l.End.Events, l.End.States, n.Events, n.States)
			}
			ended = true
		default:
			return hdr, n, errDump(line, "neither an event (offset), a state record (state) nor the end line")
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return hdr, n, fmt.Errorf("export line %d is longer than %d bytes: %w", line+1, maxLine, broker.ErrTooLarge)
		}
		return hdr, n, err
	}
	if line == 0 {
		return hdr, n, errDump(1, "empty: no header")
	}
	if err := flush(); err != nil {
		return hdr, n, err
	}
	if !ended {
		return hdr, n, errDump(line, "no end line: the export is truncated")
	}
	if len(recs) > 0 && sink != nil {
		if err := sink.states(ctx, recs); err != nil {
			return hdr, n, err
		}
	}
	return hdr, n, nil
}
