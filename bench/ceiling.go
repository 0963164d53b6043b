package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// ceilingTarget is the server of the ingest ceiling rows: the least a JSON
// publish endpoint does over net/http, to compare rtbroker's durable
// publish with in the same run (issue 15). It is this program, run as
// `bench ceiling --addr HOST:PORT`, pinned to core 0 like the others.
const ceilingTarget = "ceiling"

// ceilingCommand serves POST /api/rooms/{room}/events by reading the body,
// running json.Valid and answering 201 {"offset":N} (what rtbench counts),
// and GET /healthz, until SIGTERM or SIGINT. Nothing is stored.
func ceilingCommand(args []string) error {
	fs := flag.NewFlagSet("ceiling", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8099", "`host:port` to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	var offset atomic.Uint64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{\"ok\":true}\n") })
	mux.HandleFunc("POST /api/rooms/{room}/events", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || !json.Valid(body) {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write(strconv.AppendUint([]byte(`{"offset":`), offset.Add(1), 10))
		io.WriteString(w, "}\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
