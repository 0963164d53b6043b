package jetstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtbroker/rtbroker/broker"
)

var _ broker.Log = (*Log)(nil)

// Defaults of Config.
const (
	DefaultStream         = "RTBROKER"
	DefaultSubject        = "rtb.ev"
	DefaultMaxAtomicBatch = 1000 // nats-server's default max_batch_size
	// DefaultAckTimeout is below the Socket.IO gateway's publish timeout
	// (10 s), so that a publish the stream cannot acknowledge (its
	// cluster lost quorum) is answered unavailable, not canceled.
	DefaultAckTimeout = 5 * time.Second
	DefaultDuplicates = 2 * time.Minute
	// DefaultEphemeralSuffix makes Config.Ephemeral's default from
	// Config.Subject: "rtb.ev-eph".
	DefaultEphemeralSuffix = "-eph"
)

// epochKey is the stream metadata key holding the epoch.
const epochKey = "rtbroker_epoch"

// Config says which stream a Log uses and how it creates it.
type Config struct {
	// Stream is the stream's name; default DefaultStream. The Log also
	// uses the key-value bucket Stream+"_meta".
	Stream string
	// Subject is the subject prefix of the rooms (the stream holds
	// Subject+".*"); default DefaultSubject.
	Subject string
	// Replicas is the stream's replication factor (1 or 3 in practice);
	// default 1. An Append returns once the stream acknowledged it, that
	// is once a quorum of replicas stored it.
	Replicas int
	// Duplicates is the stream's de-duplication window: an appended
	// entry with an IdempotencyKey carries Nats-Msg-Id <room token>/<key>,
	// and JetStream drops a repeat within the window even when two nodes
	// race. Zero means DefaultDuplicates; a negative value sends no
	// Nats-Msg-Id (idempotency then rests on the meta bucket alone, which
	// this process serialises but two nodes may race on).
	Duplicates time.Duration
	// MaxAge and MaxPerRoom are stream limits (MaxAge, MaxMsgsPerSubject):
	// a backstop the server applies by its own clock, without the trim
	// watermarks Trim records. Zero means none. The broker's retention
	// (Trim) is the one that reports what it removed.
	MaxAge     time.Duration
	MaxPerRoom int64
	// MaxAtomicBatch is the largest atomic batch the server accepts
	// (its jetstream max_batch_size, 1000 by default). A larger Append
	// is committed as several atomic batches, each expecting the
	// previous one's last sequence, so its offsets stay consecutive; if
	// one fails, the batches before it stay committed.
	MaxAtomicBatch int
	// AckTimeout bounds the wait for the stream's acknowledgement of an
	// Append and for each read request; default DefaultAckTimeout.
	AckTimeout time.Duration
	// Ephemeral is the core NATS subject prefix of ephemeral events
	// (the Log is a broker.Relay): room R's go to Ephemeral + "." +
	// RoomToken(R), never stored. It must not be matched by the stream's
	// subjects. Default Subject + DefaultEphemeralSuffix.
	Ephemeral string
}

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Subject == "" {
		c.Subject = DefaultSubject
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Duplicates == 0 {
		c.Duplicates = DefaultDuplicates
	}
	if c.MaxAtomicBatch <= 0 {
		c.MaxAtomicBatch = DefaultMaxAtomicBatch
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.Ephemeral == "" {
		c.Ephemeral = c.Subject + DefaultEphemeralSuffix
	}
	return c
}

// Log is a broker.Log on a JetStream stream (see the package comment).
// All methods are safe for concurrent use. The *nats.Conn belongs to the
// caller, who closes it after closing the Log.
type Log struct {
	cfg    Config // immutable
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	meta   jetstream.KeyValue
	// metaStream is the meta bucket's stream (Follow's watchdog of the
	// watermark watch asks it what the watch should have delivered).
	metaStream jetstream.Stream
	epoch      string // immutable
	node       string // immutable: names this Log in the ephemeral events it sends
	head       atomic.Uint64

	// mu guards closed; every operation holds it for reading, so Close
	// (which takes it for writing) waits for operations in flight.
	mu     sync.RWMutex
	closed bool

	// idemMu serialises Appends that carry idempotency keys, from the
	// look-up of their keys to the writing of their records.
	idemMu sync.Mutex
	// seqMu is held for writing by an Append of several atomic batches,
	// for reading by the others.
	seqMu sync.RWMutex

	// down is the error of the last Available that found the stream
	// unable to commit, nil otherwise (see LastOffset).
	down atomic.Pointer[error]

	// stopping counts the consumers Follow stopped whose Stop has not
	// returned (see stopLater); Close waits for them.
	stopping sync.WaitGroup

	// wmMu guards marks: each room's trim watermark, as in the meta
	// bucket.
	wmMu  sync.Mutex
	marks map[string]uint64

	// beforeRoomRead, when set (tests only), runs in Read before each
	// room is read: a fault can be injected there.
	beforeRoomRead func(room string)
	// silenceMarks, when set (tests only), is asked as each Follow
	// starts; true makes that Follow's watch of the watermarks deliver
	// nothing, as one whose server died.
	silenceMarks func() bool
}

// Open returns a Log on the stream cfg names, creating the stream (with a
// new epoch) and its meta bucket when they do not exist. It fails when the
// stream exists without an epoch (it was not created by a Log).
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*Log, error) {
	cfg = cfg.withDefaults()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(cfg.AckTimeout))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	l := &Log{cfg: cfg, nc: nc, js: js, node: hex.EncodeToString(rnd[:]), marks: map[string]uint64{}}
	created, err := l.openStream(ctx)
	if err != nil {
		return nil, err
	}
	l.meta, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: cfg.Stream + "_meta", Replicas: cfg.Replicas, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream: meta bucket: %w", err)
	}
	if l.metaStream, err = js.Stream(ctx, l.metaStreamName()); err != nil {
		return nil, fmt.Errorf("jetstream: meta bucket: %w", err)
	}
	if created {
		// A new stream is a new epoch: what the bucket says of an old one
		// is void.
		if err := l.purgeMeta(ctx); err != nil {
			return nil, err
		}
	}
	if err := l.loadMarks(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// openStream gets or creates the stream and reads its epoch and head.
func (l *Log) openStream(ctx context.Context) (created bool, err error) {
	st, err := l.js.Stream(ctx, l.cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = l.js.CreateStream(ctx, l.streamConfig())
		created = err == nil
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			st, err = l.js.Stream(ctx, l.cfg.Stream) // another node was first
		}
	}
	if err != nil {
		return false, fmt.Errorf("jetstream: stream %s: %w", l.cfg.Stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("jetstream: stream %s: %w", l.cfg.Stream, err)
	}
	l.epoch = info.Config.Metadata[epochKey]
	if l.epoch == "" {
		return false, fmt.Errorf("jetstream: stream %s has no %s metadata: not created by rtbroker", l.cfg.Stream, epochKey)
	}
	if !info.Config.AllowDirect || !info.Config.AllowAtomicPublish {
		return false, fmt.Errorf("jetstream: stream %s needs allow_direct and allow_atomic", l.cfg.Stream)
	}
	l.stream = st
	l.head.Store(info.State.LastSeq)
	return created, nil
}

func (l *Log) streamConfig() jetstream.StreamConfig {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	dup := l.cfg.Duplicates
	if dup < 0 {
		dup = 0
	}
	return jetstream.StreamConfig{
		Name:               l.cfg.Stream,
		Subjects:           []string{l.cfg.Subject + ".*"},
		Storage:            jetstream.FileStorage,
		Replicas:           l.cfg.Replicas,
		Retention:          jetstream.LimitsPolicy,
		Discard:            jetstream.DiscardOld,
		MaxAge:             l.cfg.MaxAge,
		MaxMsgsPerSubject:  l.cfg.MaxPerRoom,
		Duplicates:         dup,
		AllowDirect:        true,
		AllowAtomicPublish: true,
		Metadata: map[string]string{
			epochKey: time.Now().UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(rnd[:]),
		},
	}
}

// Epoch returns the epoch stored in the stream's metadata.
func (l *Log) Epoch() string { return l.epoch }

// Head returns the highest offset this Log has seen committed: the
// stream's last sequence when opened, raised by each acknowledged Append,
// by what Follow delivers and by LastOffset. Appends made through other
// connections are seen as Follow delivers them.
func (l *Log) Head() uint64 { return l.head.Load() }

func (l *Log) raiseHead(seq uint64) {
	for {
		h := l.head.Load()
		if seq <= h || l.head.CompareAndSwap(h, seq) {
			return
		}
	}
}

// begin checks that the Log is open and holds it open until end.
func (l *Log) begin() error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return fmt.Errorf("jetstream log: %w", broker.ErrClosed)
	}
	return nil
}

func (l *Log) end() { l.mu.RUnlock() }

// Close waits for operations in flight and marks the Log closed; the
// stream and the connection stay. It also waits for the consumers of
// Follows that returned to stop (see Follow: seconds at most, when one
// was being recreated). Closing twice fails with ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("jetstream log: %w", broker.ErrClosed)
	}
	l.closed = true
	l.stopping.Wait()
	return nil
}

// subject returns the subject of room.
func (l *Log) subject(room string) string { return l.cfg.Subject + "." + RoomToken(room) }

// roomOf returns the room of a subject of the stream.
func (l *Log) roomOf(subj string) (string, error) {
	if len(subj) <= len(l.cfg.Subject)+1 {
		return "", fmt.Errorf("jetstream: subject %q outside %s", subj, l.cfg.Subject)
	}
	return TokenRoom(subj[len(l.cfg.Subject)+1:])
}

// opCtx bounds ctx by the configured timeout.
func (l *Log) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, l.cfg.AckTimeout)
}
