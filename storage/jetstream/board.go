package jetstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of BoardConfig.
const (
	DefaultBoardBucket = "RTBROKER_presence"
	// DefaultNodeTTL is how long a node's heartbeat key lives unrenewed:
	// the bound on how long a dead node's entries are still counted.
	DefaultNodeTTL = 15 * time.Second
	// DefaultEntryTTL is the per-key TTL of an entry, renewed while the
	// node lives: what an entry of a dead node costs the bucket.
	DefaultEntryTTL = 10 * time.Minute
)

// BoardConfig says which key-value bucket a Board uses and its timings.
type BoardConfig struct {
	// Bucket is the key-value bucket's name; default DefaultBoardBucket.
	Bucket string
	// Replicas is the bucket's replication factor; default 1.
	Replicas int
	// NodeTTL is the per-key TTL of the node's heartbeat key, renewed
	// every NodeTTL/3; default DefaultNodeTTL. Less than 3s counts as 3s
	// (TTLs are whole seconds).
	NodeTTL time.Duration
	// EntryTTL is the per-key TTL of each entry, renewed every
	// EntryTTL/2; default DefaultEntryTTL.
	EntryTTL time.Duration
	// Timeout bounds each request; default DefaultAckTimeout.
	Timeout time.Duration
	// Logger receives write and watch failures; default slog.Default().
	Logger *slog.Logger
}

func (c BoardConfig) withDefaults() BoardConfig {
	if c.Bucket == "" {
		c.Bucket = DefaultBoardBucket
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.NodeTTL <= 0 {
		c.NodeTTL = DefaultNodeTTL
	}
	c.NodeTTL = max(c.NodeTTL, 3*time.Second)
	if c.EntryTTL <= 0 {
		c.EntryTTL = DefaultEntryTTL
	}
	c.EntryTTL = max(c.EntryTTL, c.NodeTTL)
	if c.Timeout <= 0 {
		c.Timeout = DefaultAckTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Board is a key-value bucket where the nodes of a cluster post one
// entry per room (an opaque value: gateways/presence's members of the
// room on that node) and follow everyone's. Each node (each Board, with
// a random name) keeps a heartbeat key "n.<node>" alive with a per-key
// TTL of NodeTTL; its entries are "e.<node>.<room token>". When a node
// stops, its heartbeat is deleted; when it dies, the server removes the
// heartbeat NodeTTL after the last renewal and leaves a marker, which
// every watcher sees: a dead node's entries stop counting within NodeTTL
// (plus the watch's delivery, milliseconds). Entries carry a TTL of their
// own (EntryTTL), renewed while the node lives, so that a dead node's
// entries leave the bucket too.
//
// Writes are asynchronous and coalesced: Changed marks a room, and the
// Board's writer reads the room's current value (with the source given to
// Start) and writes it; many changes to one room in a moment cost one
// write. Safe for concurrent use. The *nats.Conn belongs to the caller,
// who closes it after the Board.
type Board struct {
	cfg  BoardConfig // immutable
	node string      // immutable
	kv   jetstream.KeyValue
	js   jetstream.JetStream

	mu    sync.Mutex // guards dirty and kept
	dirty map[string]struct{}
	kept  map[string]struct{} // rooms with an entry in the bucket
	kick  chan struct{}       // a room became dirty

	source func(room string) []byte // set by Start

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// OpenBoard returns a Board on the bucket cfg names, creating it when it
// does not exist (per-key TTLs and their markers allowed).
func OpenBoard(ctx context.Context, nc *nats.Conn, cfg BoardConfig) (*Board, error) {
	cfg = cfg.withDefaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: cfg.Bucket, Replicas: cfg.Replicas, Storage: jetstream.MemoryStorage,
		LimitMarkerTTL: cfg.NodeTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream: presence bucket %s: %w", cfg.Bucket, err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	return &Board{cfg: cfg, node: hex.EncodeToString(rnd[:]), kv: kv, js: js,
		dirty: map[string]struct{}{}, kept: map[string]struct{}{}, kick: make(chan struct{}, 1)}, nil
}

// Node returns this Board's node name.
func (b *Board) Node() string { return b.node }

// Start writes the heartbeat, then starts the writer (which reads a
// room's value with source: nil or empty means no entry) and the watcher
// (which calls watch with every node's entries as they change: room ""
// is a node's heartbeat, value nil a deletion; an entry of a node whose
// heartbeat is gone no longer counts). watch is called from one
// goroutine, this node's own keys included. Close stops both.
func (b *Board) Start(ctx context.Context, source func(room string) []byte, watch func(node, room string, value []byte)) error {
	if err := b.beat(ctx); err != nil {
		return err
	}
	w, err := b.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("jetstream: watch presence bucket: %w", err)
	}
	bctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.source = cancel, source
	b.wg.Go(func() { b.watch(bctx, w, watch) })
	b.wg.Go(func() { b.write(bctx, source) })
	return nil
}

// Changed marks room's entry for writing.
func (b *Board) Changed(room string) {
	b.mu.Lock()
	b.dirty[room] = struct{}{}
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Close stops the writer and the watcher, writes the entries changed
// since the writer's last round, and deletes this node's heartbeat and
// entries (a clean stop: its members leave at once). Call it once.
func (b *Board) Close() {
	if b.cancel == nil {
		return
	}
	b.cancel()
	b.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.Timeout)
	defer cancel()
	b.flush(ctx, b.source) // the leaves of the last connections, announced already
	_ = b.kv.Purge(ctx, "n."+b.node)
	for room := range b.kept {
		_ = b.kv.Purge(ctx, b.entryKey(room))
	}
}

func (b *Board) entryKey(room string) string { return "e." + b.node + "." + RoomToken(room) }

func ttlHeader(d time.Duration) string {
	return fmt.Sprintf("%ds", int64((d+time.Second-1)/time.Second))
}

// put writes key with a per-key TTL.
func (b *Board) put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	m := &nats.Msg{Subject: "$KV." + b.cfg.Bucket + "." + key, Data: value, Header: nats.Header{}}
	m.Header.Set(jetstream.MsgTTLHeader, ttlHeader(ttl))
	_, err := b.js.PublishMsg(ctx, m)
	return err
}

func (b *Board) beat(ctx context.Context) error {
	if err := b.put(ctx, "n."+b.node, []byte{1}, b.cfg.NodeTTL); err != nil {
		return fmt.Errorf("jetstream: presence heartbeat: %w", err)
	}
	return nil
}

// write renews the heartbeat every NodeTTL/3 and the entries every
// EntryTTL/2, and writes the dirty rooms' entries as they change.
func (b *Board) write(ctx context.Context, source func(room string) []byte) {
	beat := time.NewTicker(b.cfg.NodeTTL / 3)
	defer beat.Stop()
	renew := time.NewTicker(b.cfg.EntryTTL / 2)
	defer renew.Stop()
	failed := false // the last heartbeat was not written
	for {
		select {
		case <-beat.C:
			err := b.beat(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				b.cfg.Logger.Warn("presence heartbeat", "err", err)
				failed = true
			case err == nil && failed:
				// The heartbeat may have expired meanwhile and the
				// others dropped this node: post every entry again.
				failed = false
				b.mu.Lock()
				for room := range b.kept {
					b.dirty[room] = struct{}{}
				}
				b.mu.Unlock()
				b.flush(ctx, source)
			}
		case <-renew.C:
			b.mu.Lock()
			for room := range b.kept {
				b.dirty[room] = struct{}{}
			}
			b.mu.Unlock()
			b.flush(ctx, source)
		case <-b.kick:
			b.flush(ctx, source)
		case <-ctx.Done():
			return
		}
	}
}

// flush writes the entries of the dirty rooms.
func (b *Board) flush(ctx context.Context, source func(room string) []byte) {
	b.mu.Lock()
	rooms := make([]string, 0, len(b.dirty))
	for room := range b.dirty {
		rooms = append(rooms, room)
	}
	clear(b.dirty)
	b.mu.Unlock()
	for _, room := range rooms {
		v := source(room)
		var err error
		if len(v) == 0 {
			err = b.kv.Purge(ctx, b.entryKey(room))
		} else {
			err = b.put(ctx, b.entryKey(room), v, b.cfg.EntryTTL)
		}
		if err != nil {
			if ctx.Err() == nil {
				b.cfg.Logger.Warn("presence entry", "room", room, "err", err)
				b.Changed(room) // try again with the next change or renewal
			}
			continue
		}
		b.mu.Lock()
		if len(v) == 0 {
			delete(b.kept, room)
		} else {
			b.kept[room] = struct{}{}
		}
		b.mu.Unlock()
	}
}

// watch calls fn with the bucket's entries as they change.
func (b *Board) watch(ctx context.Context, w jetstream.KeyWatcher, fn func(node, room string, value []byte)) {
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() == nil {
					b.cfg.Logger.Error("presence watch stopped")
				}
				return
			}
			if e == nil {
				continue // the end of the initial values
			}
			node, room, err := parseBoardKey(e.Key())
			if err != nil {
				continue
			}
			var v []byte
			if e.Operation() == jetstream.KeyValuePut {
				v = e.Value()
				if v == nil {
					v = []byte{}
				}
			}
			fn(node, room, v)
		case <-ctx.Done():
			return
		}
	}
}

// parseBoardKey splits "n.<node>" and "e.<node>.<room token>".
func parseBoardKey(key string) (node, room string, err error) {
	kind, rest, _ := strings.Cut(key, ".")
	switch kind {
	case "n":
		return rest, "", nil
	case "e":
		node, tok, ok := strings.Cut(rest, ".")
		if !ok {
			return "", "", errors.New("bad entry key")
		}
		room, err := TokenRoom(tok)
		return node, room, err
	}
	return "", "", errors.New("unknown key")
}
