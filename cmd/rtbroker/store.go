package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

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
	l, err := bolt.Open(path, bolt.Options{Logger: log, OnCommit: commits.observe})
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	return &store{log: l, where: path, backup: backupHandler(l, log), close: func() { _ = l.Close() }, health: l}, nil
}

// openJetStream connects to --nats-url and opens the log, the state store
// and the presence board on it. The backup route answers 404: a stream is backed up with
// NATS's own tools.
func openJetStream(ctx context.Context, cfg *config, log *slog.Logger) (*store, error) {
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("rtbroker"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", cfg.NATSURL, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	l, err := jetstream.Open(ctx, nc, jetstream.Config{Replicas: cfg.NATSReplicas})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("open JetStream log: %w", err)
	}
	st, err := jetstream.OpenState(ctx, nc, jetstream.StateConfig{Replicas: cfg.NATSReplicas})
	if err != nil {
		_ = l.Close()
		nc.Close()
		return nil, fmt.Errorf("open JetStream state: %w", err)
	}
	board, err := jetstream.OpenBoard(ctx, nc, jetstream.BoardConfig{Replicas: cfg.NATSReplicas, NodeTTL: cfg.PresenceNodeTTL, Logger: log})
	if err != nil {
		_ = st.Close()
		_ = l.Close()
		nc.Close()
		return nil, fmt.Errorf("open JetStream presence: %w", err)
	}
	return &store{log: l, state: st, where: cfg.NATSURL, backup: httpapi.NotFound, health: noHealth{}, board: board, close: func() {
		_ = st.Close()
		_ = l.Close()
		nc.Drain() //nolint:errcheck // closes the connection once flushed
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
