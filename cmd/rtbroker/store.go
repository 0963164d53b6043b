package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/httpapi"
	"github.com/rtbroker/rtbroker/gateways/presence"
	"github.com/rtbroker/rtbroker/storage/bolt"
	"github.com/rtbroker/rtbroker/storage/jetstream"
)

// Values of --store.
const (
	storeBolt      = "bolt"
	storeJetStream = "jetstream"
)

// store is the log and state store serve runs on, as --store chose them.
type store struct {
	log    broker.Log
	state  broker.State     // nil: the log is its own state (bbolt)
	where  string           // the bbolt file or the NATS URL, for the listening line
	backup http.HandlerFunc // GET /backup
	close  func()           // after the broker
	health healthReporter   // full disk, damaged parts
	board  *jetstream.Board // the cluster's presence (JetStream only), started by serve
}

// openStore opens the bbolt file in --data (its commits observed by
// commits), or the JetStream stream and key-value bucket at --nats-url
// (over one connection it owns).
func openStore(ctx context.Context, cfg *config, log *slog.Logger, commits *commitMetrics) (*store, error) {
	if cfg.Store == storeJetStream {
		return openJetStream(ctx, cfg, log)
	}
	if err := os.MkdirAll(cfg.Data, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if err := checkDataDir(cfg.Data); err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.Data, dbFile)
	l, err := bolt.Open(path, bolt.Options{Logger: log, JournalSize: cfg.JournalSize, OnCommit: commits.observe, OnCheckpoint: commits.checkpoint})
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	return &store{log: l, where: path, backup: backupHandler(l, log), close: func() { _ = l.Close() }, health: l}, nil
}

// openJetStream connects to --nats-url, or starts the embedded NATS
// server, and opens the log, the state store and the presence board on
// it. The backup route answers 404: a stream is backed up with NATS's own
// tools. Its health reports whether the stream can commit (a leader: the
// cluster has quorum).
func openJetStream(ctx context.Context, cfg *config, log *slog.Logger) (*store, error) {
	nc, where, stopNATS, err := connectNATS(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	l, st, board, err := openJetStreamStores(ctx, cfg, nc, log)
	if err != nil {
		nc.Close()
		stopNATS()
		return nil, err
	}
	avail := watchAvailability(l)
	return &store{log: l, state: st, where: where, backup: httpapi.NotFound, health: jsHealth{avail}, board: board, close: func() {
		avail.stop()
		_ = st.Close()
		_ = l.Close()
		_ = nc.Drain() // closes the connection once flushed
		stopNATS()
	}}, nil
}

// clusterPresence returns the presence Store of st: nil (the Registry's
// in-memory default) on bbolt; on JetStream, a presence.Cluster on the
// store's Board, and the function that starts the Board once the
// Registry exists (its stop closes the Board: call it after the
// Registry's Close, so the last leaves are posted).
func clusterPresence(st *store) (presence.Store, func(context.Context, *presence.Registry) (stop func(), err error)) {
	if st.board == nil {
		return nil, nil
	}
	cl := presence.NewCluster(st.board)
	return cl, func(ctx context.Context, r *presence.Registry) (func(), error) {
		cl.OnGone(r.Departed)
		if err := st.board.Start(ctx, cl.Entry, cl.Update); err != nil {
			return nil, fmt.Errorf("start presence board: %w", err)
		}
		return st.board.Close, nil
	}
}
