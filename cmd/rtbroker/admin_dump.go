package main

// The operator routes that move data in and out of a running server:
// GET /api/admin/export (NDJSON, see dump.go), POST /api/admin/import
// (into an empty log only) and GET /api/admin/backup (the bbolt file).
// The router guards them with httpapi's AdminOnly: on a secured server,
// an admin API key only.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/httpapi"
	"github.com/rtbroker/rtbroker/gateways/messages"
)

// dumpRoutes serves export and import on a broker and its log.
type dumpRoutes struct {
	b            *broker.Broker
	api          *httpapi.Handler // errors in the one wire form
	log          broker.Log
	msgs         *messages.Service // rebuilt after an import
	readTimeout  time.Duration     // --read-timeout: how long an import may wait for each batch of its body
	writeTimeout time.Duration     // --write-timeout: an export's client that does not read for this long is dropped
	maxLine      int               // the longest line an import accepts
	logger       *slog.Logger
}

// withDumpRoutes adds to the admin router admin (newAdminAPI) the routes
// that move data: GET /export, POST /import and GET /backup, guarded by
// api's AdminOnly and answering errors in its wire form. Import answers
// 404 on a log that cannot write given offsets (JetStream), as the backup
// does.
func withDumpRoutes(admin http.Handler, api *httpapi.Handler, b *broker.Broker, st *store, msgs *messages.Service, cfg *config, logger *slog.Logger) http.Handler {
	d := &dumpRoutes{b: b, api: api, log: st.log, msgs: msgs, readTimeout: cfg.ReadTimeout, writeTimeout: cfg.WriteTimeout, maxLine: importMaxLine(cfg.MaxDataSize), logger: logger}
	r := chi.NewRouter()
	r.NotFound(httpapi.NotFound)
	r.MethodNotAllowed(httpapi.MethodNotAllowed)
	r.Get("/export", api.AdminOnly(d.export))
	r.Get("/backup", api.AdminOnly(writeDeadline(cfg.WriteTimeout, st.backup)))
	if _, ok := st.log.(broker.Importer); ok {
		r.Post("/import", api.AdminOnly(d.importDump))
	} else {
		r.Post("/import", httpapi.NotFound)
	}
	r.Mount("/", admin)
	return r
}

// writeDeadline gives every write of h's answer --write-timeout: a
// client of a long download (an export, a backup, which holds a read
// transaction while it writes) that stops reading is dropped instead of
// holding the handler forever.
func writeDeadline(d time.Duration, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h(&deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: d}, r)
	}
}

// deadlineWriter sets a write deadline before each write; err is the
// first write error (the client's side).
type deadlineWriter struct {
	http.ResponseWriter
	rc  *http.ResponseController
	d   time.Duration
	err error
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
	n, err := w.ResponseWriter.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// importMaxLine is the longest line POST /api/admin/import accepts: an
// event of the largest data the server accepts (its text up to twice
// --max-data-size, for bytes in base64) or a state record of the largest
// value, in base64, with room for the other fields.
func importMaxLine(maxData int) int {
	return max(2*maxData, broker.MaxStateValueLen*4/3) + 64<<10
}

// export is GET /api/admin/export[?room=R…]: the export of the rooms
// named (every room without any) as NDJSON, streamed; the events up to
// the head when it starts. A failure mid-way cuts the connection, so the
// file lacks its end line and an import refuses it.
func (d *dumpRoutes) export(w http.ResponseWriter, r *http.Request) {
	rooms := r.URL.Query()["room"]
	for _, room := range rooms {
		if err := broker.ValidateRoom(room); err != nil {
			d.api.WriteError(w, r, err)
			return
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Content-Disposition", `attachment; filename="rtbroker-export.ndjson"`)
	h.Set("Cache-Control", "no-store")
	dw := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: d.writeTimeout}
	_, err := writeDump(r.Context(), dw, dumpSource{log: d.log, scan: d.b.ScanState}, rooms, nil, nil)
	if err != nil {
		if dw.err == nil && r.Context().Err() == nil { // not the client's doing
			d.logger.Error("export", "err", err)
		}
		panic(http.ErrAbortHandler) // the body ends without its end line
	}
}

// importDump is POST /api/admin/import: it loads an export into the
// server's log, which must be empty (409 conflict otherwise), at the
// events' own offsets, and the read positions; subscribers see the events
// as they are written. The body is read in batches, each committed before
// the next is read; --read-timeout bounds the wait for each. It then
// rebuilds the folded message view and answers 200 importResult. A bad
// line is answered 400 (413 over the line limit), naming the line; what
// came before it in the body may have been written (the message says how
// much): start again on an empty log.
func (d *dumpRoutes) importDump(w http.ResponseWriter, r *http.Request) {
	if head := d.b.Head().Offset; head > 0 {
		d.api.WriteError(w, r, fmt.Errorf("the log is not empty (head %d): import into a server started on an empty data directory, "+
			"or into a stopped log with rtbroker import --data DIR --append: %w", head, broker.ErrConflict))
		return
	}
	sink := &brokerSink{b: d.b, rc: http.NewResponseController(w), readTimeout: d.readTimeout}
	_, n, err := readDump(r.Context(), r.Body, d.maxLine, sink, nil)
	if err == nil {
		_, err = d.msgs.Rebuild(r.Context())
	}
	if err != nil {
		if sink.written > 0 {
			err = &partialImport{err: err, written: sink.written, last: sink.last}
		}
		d.api.WriteError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(importResult{Events: n.Events, States: n.States, First: n.First, Last: n.Last, Head: d.b.Head().Offset, Epoch: d.b.Epoch()})
}

// partialImport is an import that failed after writing some events: its
// message says how far it got; it classifies as err does.
type partialImport struct {
	err     error
	written int
	last    uint64
}

func (e *partialImport) Error() string {
	return fmt.Sprintf("%v (%d events, up to offset %d, were imported before it)", e.err, e.written, e.last)
}

func (e *partialImport) Unwrap() error { return e.err }

// brokerSink writes an import through a running broker.
type brokerSink struct {
	b           *broker.Broker
	rc          *http.ResponseController
	readTimeout time.Duration
	written     int
	last        uint64
}

func (s *brokerSink) events(ctx context.Context, evs []*broker.Event) error {
	if err := s.b.Import(ctx, evs); err != nil {
		if errors.Is(err, broker.ErrConflict) {
			return fmt.Errorf("something was published during the import: %w", broker.ErrConflict)
		}
		return err
	}
	s.written += len(evs)
	s.last = evs[len(evs)-1].Offset
	if s.readTimeout > 0 { // the next batch has its own --read-timeout
		_ = s.rc.SetReadDeadline(time.Now().Add(s.readTimeout))
	}
	return nil
}

func (s *brokerSink) states(ctx context.Context, recs []broker.Record) error {
	for len(recs) > 0 {
		n := min(len(recs), 1000)
		if err := s.b.PutState(ctx, recs[:n]...); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}
