package jetstream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtbroker/rtbroker/broker"
)

var _ broker.State = (*State)(nil)

// Defaults of StateConfig.
const (
	DefaultStateBucket = "RTBROKER_state"
	DefaultGrace       = time.Minute
	DefaultMarkerTTL   = time.Minute
)

// StateConfig says which key-value bucket a State uses and how it creates
// it.
type StateConfig struct {
	// Bucket is the key-value bucket's name; default DefaultStateBucket.
	Bucket string
	// Replicas is the bucket's replication factor; default 1.
	Replicas int
	// Grace is how long after a record's Expires the server removes it
	// by itself (its per-key TTL is the time left plus Grace); until then
	// Expire removes it, and Get and Scan hide it. Default DefaultGrace.
	Grace time.Duration
	// MarkerTTL is how long the bucket keeps the marker of a key its TTL
	// removed (the bucket's LimitMarkerTTL); default DefaultMarkerTTL.
	MarkerTTL time.Duration
	// MaxAtomicBatch is the largest atomic batch the server accepts;
	// default DefaultMaxAtomicBatch. A larger Put is several batches.
	MaxAtomicBatch int
	// Timeout bounds each request; default DefaultAckTimeout.
	Timeout time.Duration
}

func (c StateConfig) withDefaults() StateConfig {
	if c.Bucket == "" {
		c.Bucket = DefaultStateBucket
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Grace <= 0 {
		c.Grace = DefaultGrace
	}
	if c.MarkerTTL <= 0 {
		c.MarkerTTL = DefaultMarkerTTL
	}
	if c.MaxAtomicBatch <= 0 {
		c.MaxAtomicBatch = DefaultMaxAtomicBatch
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultAckTimeout
	}
	return c
}

// State is a broker.State on a JetStream key-value bucket. Keys are
// stored as RoomToken(key). A value is stored behind a header byte (1:
// an expiry of 8 bytes, Unix ns, big endian, follows; 0: none). A record
// with an expiry gets a per-message TTL (Nats-TTL), so the server removes
// it StateConfig.Grace after it expired even if Expire never runs.
//
// Put writes its records as one JetStream atomic batch on the bucket's
// stream: all of them or none (there are no multi-key transactions in
// the key-value API; an atomic batch is the stream-level equivalent).
// Scan reads every key of the bucket (key-value subjects can filter by
// whole tokens only, and keys are one token) and keeps the prefix's.
//
// All methods are safe for concurrent use. The *nats.Conn belongs to the
// caller, who closes it after closing the State.
type State struct {
	cfg    StateConfig // immutable
	nc     *nats.Conn
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	prefix string // "$KV.<bucket>."

	// mu guards closed; every operation holds it for reading.
	mu     sync.RWMutex
	closed bool
}

// OpenState returns a State on the bucket cfg names, creating it when it
// does not exist (with per-key TTLs and atomic batches allowed on its
// stream). It fails when the server is older than 2.11 (no per-key TTL)
// or 2.12 (no atomic batches).
func OpenState(ctx context.Context, nc *nats.Conn, cfg StateConfig) (*State, error) {
	cfg = cfg.withDefaults()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(cfg.Timeout))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: cfg.Bucket, Replicas: cfg.Replicas, Storage: jetstream.FileStorage,
		LimitMarkerTTL: cfg.MarkerTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream: state bucket %s: %w", cfg.Bucket, err)
	}
	st, err := js.Stream(ctx, "KV_"+cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("jetstream: state bucket %s: %w", cfg.Bucket, err)
	}
	if sc := st.CachedInfo().Config; !sc.AllowAtomicPublish {
		sc.AllowAtomicPublish = true
		if _, err := js.UpdateStream(ctx, sc); err != nil {
			return nil, fmt.Errorf("jetstream: state bucket %s: allow atomic batches: %w", cfg.Bucket, err)
		}
	}
	return &State{cfg: cfg, nc: nc, js: js, kv: kv, prefix: "$KV." + cfg.Bucket + "."}, nil
}

func (s *State) begin() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return fmt.Errorf("jetstream state: %w", broker.ErrClosed)
	}
	return nil
}

func (s *State) end() { s.mu.RUnlock() }

// Close waits for operations in flight and marks the State closed; the
// bucket and the connection stay. Closing twice fails with ErrClosed.
func (s *State) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("jetstream state: %w", broker.ErrClosed)
	}
	s.closed = true
	return nil
}

func encodeRecord(r broker.Record) []byte {
	if r.Expires.IsZero() {
		return append([]byte{0}, r.Value...)
	}
	b := make([]byte, 0, 9+len(r.Value))
	b = append(b, 1)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Expires.UnixNano()))
	return append(b, r.Value...)
}

func decodeRecord(key string, v []byte) (broker.Record, error) {
	r := broker.Record{Key: key}
	switch {
	case len(v) >= 1 && v[0] == 0:
		v = v[1:]
	case len(v) >= 9 && v[0] == 1:
		r.Expires = time.Unix(0, int64(binary.BigEndian.Uint64(v[1:9])))
		v = v[9:]
	default:
		return r, fmt.Errorf("jetstream state: corrupt record %q", key)
	}
	r.Value = append(make([]byte, 0, len(v)), v...)
	return r, nil
}

// Get returns the live record of key.
func (s *State) Get(ctx context.Context, key string) (broker.Record, error) {
	if err := s.begin(); err != nil {
		return broker.Record{}, err
	}
	defer s.end()
	if err := broker.ValidateStateKey(key); err != nil {
		return broker.Record{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var value []byte
	e, err := s.kv.Get(ctx, RoomToken(key))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound) && s.cfg.Replicas > 1:
		// Any replica that is nearly current answers a direct get: one
		// that lags (it missed the last commits, or the leader just died
		// before telling it they were committed) may not have a record
		// that was written. The leader has it.
		if value, err = s.leaderValue(ctx, key); err != nil {
			return broker.Record{}, fmt.Errorf("state key %q: %w", key, err)
		}
		if value == nil {
			return broker.Record{}, fmt.Errorf("state key %q: %w", key, broker.ErrNotFound)
		}
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return broker.Record{}, fmt.Errorf("state key %q: %w", key, broker.ErrNotFound)
	case err != nil:
		return broker.Record{}, fmt.Errorf("state key %q: %w", key, unavailable(err))
	default:
		value = e.Value()
	}
	r, err := decodeRecord(key, value)
	if err != nil {
		return broker.Record{}, err
	}
	if !r.Live(time.Now()) {
		return broker.Record{}, fmt.Errorf("state key %q: %w", key, broker.ErrNotFound)
	}
	return r, nil
}

// leaderValue returns the value of key as the bucket's stream leader has
// it, or nil when it has none (never written, deleted, purged or removed
// by its TTL).
func (s *State) leaderValue(ctx context.Context, key string) ([]byte, error) {
	m, err := leaderGet(ctx, s.nc, "KV_"+s.cfg.Bucket, struct {
		LastFor string `json:"last_by_subj"`
	}{s.prefix + RoomToken(key)})
	if err != nil || m == nil {
		return nil, err
	}
	if len(m.Hdrs) > 0 {
		h, err := nats.DecodeHeadersMsg(m.Hdrs)
		if err != nil {
			return nil, fmt.Errorf("jetstream: leader get: headers: %w", err)
		}
		if h.Get("KV-Operation") != "" || h.Get(jetstream.MarkerReasonHeader) != "" {
			return nil, nil // a delete or purge marker, or a TTL's removal
		}
	}
	return m.Data, nil
}

// Put writes recs as one atomic batch (see State).
func (s *State) Put(ctx context.Context, recs []broker.Record) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	if err := broker.ValidateRecords(recs); err != nil {
		return err
	}
	now := time.Now()
	msgs := make([]*nats.Msg, len(recs))
	for i, r := range recs {
		m := &nats.Msg{Subject: s.prefix + RoomToken(r.Key), Header: nats.Header{}}
		switch {
		case r.Value == nil:
			m.Header.Set("KV-Operation", "DEL")
		default:
			m.Data = encodeRecord(r)
			if !r.Expires.IsZero() {
				ttl := math.Ceil((r.Expires.Sub(now) + s.cfg.Grace).Seconds())
				m.Header.Set(jetstream.MsgTTLHeader, strconv.FormatInt(max(int64(ttl), 1), 10)+"s")
			}
		}
		msgs[i] = m
	}
	for len(msgs) > 0 {
		n := min(len(msgs), s.cfg.MaxAtomicBatch)
		if _, err := publishAtomic(s.nc, s.js, msgs[:n], 0); err != nil {
			return fmt.Errorf("put %d state records: %w", n, unavailable(err))
		}
		msgs = msgs[n:]
	}
	return nil
}

// all returns the live records whose keys start with prefix, in key
// order, with their revisions.
func (s *State) all(ctx context.Context, prefix string, now time.Time, live bool) ([]broker.Record, []uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	entries, err := snapshot(ctx, s.kv, ">")
	if err != nil {
		return nil, nil, fmt.Errorf("jetstream state: scan: %w", err)
	}
	type item struct {
		r   broker.Record
		rev uint64
	}
	var items []item
	for _, e := range entries {
		key, err := TokenRoom(e.Key())
		if err != nil {
			return nil, nil, fmt.Errorf("jetstream state: %w", err)
		}
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		r, err := decodeRecord(key, e.Value())
		if err != nil {
			return nil, nil, err
		}
		if r.Live(now) == live {
			items = append(items, item{r, e.Revision()})
		}
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.r.Key, b.r.Key) })
	recs, revs := make([]broker.Record, len(items)), make([]uint64, len(items))
	for i, it := range items {
		recs[i], revs[i] = it.r, it.rev
	}
	return recs, revs, nil
}

// Scan reads the whole bucket into memory, keeps the live records of
// prefix, and calls fn on them in key order.
func (s *State) Scan(ctx context.Context, prefix string, fn func(broker.Record) bool) error {
	if err := broker.ValidateStatePrefix(prefix); err != nil {
		return err
	}
	if err := s.begin(); err != nil {
		return err
	}
	recs, _, err := s.all(ctx, prefix, time.Now(), true)
	s.end() // fn may call s
	if err != nil {
		return err
	}
	for _, r := range recs {
		if !fn(r) {
			break
		}
	}
	return nil
}

// Expire deletes, one by one, the records whose Expires is not after
// now, each only if it was not written again since it was read.
func (s *State) Expire(ctx context.Context, now time.Time) (int, error) {
	if err := s.begin(); err != nil {
		return 0, err
	}
	defer s.end()
	recs, revs, err := s.all(ctx, "", now, false)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, r := range recs {
		err := s.kv.Delete(ctx, RoomToken(r.Key), jetstream.LastRevision(revs[i]))
		switch {
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			continue // renewed meanwhile (R1 and R3 servers report it differently)
		case err != nil:
			return n, fmt.Errorf("jetstream state: expire %q: %w", r.Key, err)
		}
		n++
	}
	return n, nil
}
