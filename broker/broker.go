package broker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
)

// Config holds the Broker's limits. Zero values take the defaults below.
type Config struct {
	// TailSize is how many recent events (over all rooms) the broker keeps
	// in memory for live subscribers. Older events are read from the Log.
	// Default 16384.
	TailSize int
	// MaxBatch caps how many queued publishes share one Log.Append
	// (one transaction, one fsync). Default 1024.
	MaxBatch int
	// MaxDataSize caps the size of an event's data in bytes: the length of
	// its JSON, in which bytes ({"$binary":"…"}, see BinaryKey) count at
	// their decoded length. Default 64 KiB.
	MaxDataSize int
	// Retention is applied every RetentionInterval (default 1 minute) when
	// it keeps less than everything. Expired State records are removed on
	// the same tick whenever there is a State.
	Retention         Retention
	RetentionInterval time.Duration
	// State is the keyed store beside the log (see PutState). Nil means
	// the Log itself when it implements State (both bbolt and the memory
	// log do), and otherwise no State: the state methods then fail with
	// ErrNoState. When State is the Log and the Log is a StateLog, records
	// are committed in the same transaction as the events of their batch;
	// otherwise the writer puts them into State right before the batch's
	// Append. The Broker does not own State: close it after the Broker.
	State State
	// EphemeralBuffer is how many undelivered ephemeral events a
	// subscription holds before dropping the oldest. Default 64.
	EphemeralBuffer int
	// Logger receives background errors (retention). Default slog.Default().
	Logger *slog.Logger
	// Now returns the current time; default time.Now. For tests.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.TailSize <= 0 {
		c.TailSize = DefaultTailSize
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxDataSize <= 0 {
		c.MaxDataSize = DefaultMaxDataSize
	}
	if c.RetentionInterval <= 0 {
		c.RetentionInterval = DefaultRetentionInterval
	}
	if c.EphemeralBuffer <= 0 {
		c.EphemeralBuffer = 64
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Message is what a publisher sends. Data must be valid JSON (it is stored
// compacted); From is set by the server from the authenticated identity.
type Message struct {
	Room           string
	Type           string
	Data           json.RawMessage
	From           string
	IdempotencyKey string // optional; a retried publish with the same key returns the first result
}

// Broker publishes events to a Log and serves subscriptions from it. It is
// safe for concurrent use. It does not own the Log: close the Broker first,
// then the Log.
type Broker struct {
	log   Log
	cfg   Config
	epoch string
	state State    // immutable: nil when there is no State
	same  StateLog // immutable: the Log, when it is also the State; records go in its Append transaction

	follower Follower // immutable: the Log, when other processes append to it too (see Follower)
	relay    Relay    // immutable: the Log, when it carries ephemeral events between processes

	// Scratch space owned by the writer goroutine.
	entries []Entry
	recs    []Record

	reqs chan *publishReq // to the writer goroutine

	pubMu     sync.RWMutex // held for reading while sending to reqs; guards pubClosed
	pubClosed bool

	mu     sync.RWMutex // guards tail, idle and closed
	tail   tail
	idle   map[*Subscription]struct{} // open subscriptions that follow no room (the tail's rooms list the others)
	notify []*Subscription            // scratch of visible, owned by the writer goroutine
	// followNotify is the scratch of followed, owned by the follow goroutine.
	followNotify []*Subscription
	closed       bool
	// headMoved is closed and replaced each time the tail's head moves,
	// when there is a follower (nil otherwise): beyondHead waits on it.
	headMoved chan struct{}
	closing   chan struct{} // closed by Close: stops the writer
	done      atomic.Bool   // set by Close, read by subscriptions without locking

	stats struct {
		published, replayed, commits, ephemeral, subscriptions atomic.Int64
		readTail, readLog                                      atomic.Int64 // events subscriptions read from the tail, from the Log
		joins, leaves, resumed, resetTrimmed, resetEpoch       atomic.Int64 // Subscription.Add and Remove calls, by outcome
		replayTail, replayLog                                  atomic.Int64 // events read that were committed before their reader followed the room
	}

	ctx    context.Context // cancelled by Close; for background work
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// publishReq is one request to the writer: events to append (Publish,
// Enqueue) or state records to put (PutState, EnqueueState).
type publishReq struct {
	entries []Entry
	// recs are the state records of an EnqueueState, nil for a publish: a
	// pointer keeps the request of a publish in the size class it had
	// before records existed (80 bytes).
	recs   *[]Record
	events []*Event
	err    error
	done   chan struct{}
}

// records returns r's state records.
func (r *publishReq) records() []Record {
	if r.recs == nil {
		return nil
	}
	return *r.recs
}

// size is how much of a batch r takes: its events and records.
func (r *publishReq) size() int { return len(r.entries) + len(r.records()) }

// New starts a broker on log. It reads the log's head and epoch, and starts
// the writer and (when retention is set or there is a State) the retention
// goroutines, which Close stops.
func New(log Log, cfg Config) *Broker {
	cfg.setDefaults()
	if cfg.State == nil {
		cfg.State, _ = log.(State)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{
		log:     log,
		cfg:     cfg,
		epoch:   log.Epoch(),
		reqs:    make(chan *publishReq, cfg.MaxBatch),
		closing: make(chan struct{}),
		idle:    make(map[*Subscription]struct{}),
		ctx:     ctx,
		cancel:  cancel,
	}
	b.state = cfg.State
	if sl, ok := log.(StateLog); ok && sameStore(sl, cfg.State) {
		b.same = sl
	}
	b.tail.init(log.Head(), cfg.TailSize)
	b.follower, _ = log.(Follower)
	b.relay, _ = log.(Relay)
	b.wg.Go(b.writer)
	if b.follower != nil {
		b.headMoved = make(chan struct{})
		b.wg.Go(b.follow)
	}
	if b.relay != nil {
		b.wg.Go(b.relayIn)
	}
	if b.trims() || b.state != nil {
		b.wg.Go(b.retention)
	}
	return b
}

// trims reports whether the configured retention removes anything.
func (b *Broker) trims() bool {
	r := b.cfg.Retention
	return r.RemovesEvents() || r.Idempotency > 0
}

// Epoch returns the epoch of the broker's log.
func (b *Broker) Epoch() string { return b.epoch }

// Head returns the position of the last committed event.
func (b *Broker) Head() Position {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return Position{Epoch: b.epoch, Offset: b.tail.head}
}

// Config returns the broker's effective configuration (defaults applied).
func (b *Broker) Config() Config { return b.cfg }

// Publish validates m, commits it durably and returns the committed event.
// Concurrent publishes share one Log transaction. The event is visible to
// subscribers only after the commit. When ctx ends before the commit is
// known, Publish returns ctx.Err() and the event may or may not be
// committed (retry with the same IdempotencyKey to find out).
func (b *Broker) Publish(ctx context.Context, m Message) (*Event, error) {
	ev, _, err := b.PublishKeyed(ctx, m)
	return ev, err
}

// PublishKeyed is Publish that also reports whether the event was a replay:
// m.IdempotencyKey had been committed before, and the returned event is the
// first one committed with it.
func (b *Broker) PublishKeyed(ctx context.Context, m Message) (ev *Event, replayed bool, err error) {
	evs, ids, err := b.publish(ctx, []Message{m})
	if err != nil {
		return nil, false, err
	}
	return evs[0], evs[0].ID != ids[0], nil
}

// PublishBatch commits msgs in order in one transaction, all or nothing.
// Validation errors (wrapping ErrInvalid or ErrTooLarge) name the index of
// the bad message.
func (b *Broker) PublishBatch(ctx context.Context, msgs []Message) ([]*Event, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	evs, _, err := b.publish(ctx, msgs)
	return evs, err
}

// publish commits msgs and returns the committed events with the IDs the
// broker gave the new entries (an event whose ID differs is a replay).
func (b *Broker) publish(ctx context.Context, msgs []Message) ([]*Event, []ulid.ULID, error) {
	req, ids, err := b.prepare(msgs)
	if err != nil {
		return nil, nil, err
	}
	if err := b.enqueue(ctx, req); err != nil {
		return nil, nil, err
	}
	if ctx.Done() == nil { // nothing cancels ctx (a request the front serves): a receive costs less than a select
		<-req.done
		return req.events, ids, req.err
	}
	select {
	case <-req.done:
		return req.events, ids, req.err
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// prepare validates msgs and turns them into a request for the writer,
// returning the IDs given to the new entries.
func (b *Broker) prepare(msgs []Message) (*publishReq, []ulid.ULID, error) {
	now := b.cfg.Now().UTC()
	var req *publishReq
	var entries []Entry
	var ids []ulid.ULID
	if len(msgs) == 1 { // the common publish: one allocation for the three
		one := new(struct {
			req   publishReq
			entry [1]Entry
			id    [1]ulid.ULID
		})
		req, entries, ids = &one.req, one.entry[:], one.id[:]
	} else {
		req, entries, ids = new(publishReq), make([]Entry, len(msgs)), make([]ulid.ULID, len(msgs))
	}
	for i, m := range msgs {
		data, err := b.checkMessage(m)
		if err != nil {
			if len(msgs) > 1 {
				return nil, nil, fmt.Errorf("message %d: %w", i, err)
			}
			return nil, nil, err
		}
		ids[i] = newID(now)
		entries[i] = Entry{
			ID: ids[i], Room: m.Room, Type: m.Type,
			Data: data, Time: now, From: m.From, IdempotencyKey: m.IdempotencyKey,
		}
	}
	req.entries, req.done = entries, make(chan struct{})
	return req, ids, nil
}

// newID returns a new event ID for now: ulid.MustNew(ulid.Timestamp(now),
// rand.Reader) without the allocation of the ID it reads into through the
// io.Reader.
func newID(now time.Time) ulid.ULID {
	var id ulid.ULID
	if err := id.SetTime(ulid.Timestamp(now)); err != nil {
		panic(err) // as MustNew: only after the year 10889
	}
	rand.Read(id[6:]) // crypto/rand.Read never fails
	return id
}

// Pending is a publish queued by Enqueue, or state records queued by
// EnqueueState; Wait returns its outcome. It is safe for concurrent use.
type Pending struct{ req *publishReq }

// Enqueue validates m and queues it for commit without waiting for the
// commit; Wait on the result does. Events enqueued one after another (by
// one goroutine) are committed in that order: a connection that has many
// publishes in flight keeps the order its client sent them in. Enqueue
// blocks only while the commit queue is full, at most until ctx ends. It
// returns validation errors (wrapping ErrInvalid or ErrTooLarge),
// ErrClosed, or ctx's error; the event is then not queued.
func (b *Broker) Enqueue(ctx context.Context, m Message) (*Pending, error) {
	req, _, err := b.prepare([]Message{m})
	if err != nil {
		return nil, err
	}
	if err := b.enqueue(ctx, req); err != nil {
		return nil, err
	}
	return &Pending{req: req}, nil
}

// Wait waits for the commit of the enqueued event and returns the
// committed event (for an IdempotencyKey committed before, the first
// event committed with it). For records queued by EnqueueState it returns
// (nil, nil) once they are durable, or (nil, err). When ctx ends first it
// returns ctx.Err(), and the event may or may not be committed.
func (p *Pending) Wait(ctx context.Context) (*Event, error) {
	select {
	case <-p.req.done:
		if p.req.err != nil || len(p.req.entries) == 0 {
			return nil, p.req.err // state records (EnqueueState) have no event
		}
		return p.req.events[0], nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// enqueue hands req to the writer. Once Close has begun it refuses; a
// request enqueued before is committed (Close drains the queue).
func (b *Broker) enqueue(ctx context.Context, req *publishReq) error {
	b.pubMu.RLock()
	defer b.pubMu.RUnlock()
	if b.pubClosed {
		return ErrClosed
	}
	if ctx.Done() == nil { // nothing cancels ctx: a send costs less than a select
		b.reqs <- req
		return nil
	}
	select {
	case b.reqs <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// MaxKeyLen bounds an idempotency key.
const MaxKeyLen = 256

func (b *Broker) checkMessage(m Message) (json.RawMessage, error) {
	if err := ValidateRoom(m.Room); err != nil {
		return nil, err
	}
	if err := ValidateType(m.Type); err != nil {
		return nil, err
	}
	if len(m.IdempotencyKey) > MaxKeyLen {
		return nil, invalid("idempotency key", "longer than %d bytes", MaxKeyLen)
	}
	max := b.cfg.MaxDataSize
	bin := mayHaveBinary(m.Data)
	// Data with bytes is measured once compact, its base64 counted decoded
	// (see BinaryKey); its text may be larger, up to twice the limit.
	if len(m.Data) > max && (!bin || len(m.Data)/2 > max) {
		return nil, &ValidationError{Field: "data", Reason: fmt.Sprintf("larger than %d bytes", max), kind: ErrTooLarge}
	}
	data, err := CompactJSON(m.Data)
	if err != nil || !bin {
		return data, err
	}
	return checkBinary(data, len(m.Data), max)
}

// CompactJSON validates data and returns it without insignificant white
// space. Empty data becomes null. It returns data itself when it is already
// compact. The error wraps ErrInvalid.
func CompactJSON(data []byte) (json.RawMessage, error) {
	if len(data) == 0 {
		return json.RawMessage("null"), nil
	}
	valid, spaced := scanJSON(data) // json.Valid, and where the spaces are, in one pass
	if !valid {
		return nil, invalid("data", "not valid JSON")
	}
	if !spaced { // white space only inside strings, which Compact keeps
		return json.RawMessage(append([]byte(nil), data...)), nil
	}
	var buf bytes.Buffer
	buf.Grow(len(data))
	if err := json.Compact(&buf, data); err != nil {
		return nil, invalid("data", "not valid JSON")
	}
	return json.RawMessage(buf.Bytes()), nil
}

// writer is the only goroutine that appends to the log. It takes every
// queued request (up to MaxBatch events and records) into one commit,
// then makes the committed events visible and answers the requesters. A
// request that collect could not fit into a batch (carry) starts the
// next one. On Close it commits what is still queued, then returns.
func (b *Broker) writer() {
	var batch []*publishReq
	var carry *publishReq
	for {
		batch = batch[:0]
		if carry != nil {
			batch, carry = append(batch, carry), nil
		} else {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			case <-b.closing:
				for {
					batch = batch[:0]
					if carry != nil {
						batch, carry = append(batch, carry), nil
					}
					if batch, carry = b.collect(batch); len(batch) == 0 {
						return
					}
					b.commit(batch)
				}
			}
		}
		batch, carry = b.collect(batch)
		b.commit(batch)
	}
}

// collect adds queued requests to batch without waiting, up to MaxBatch
// events and records. When the State is a store of its own, a request
// with records that follows one with events is not added but returned as
// carry: the writer puts a batch's records before it appends its events,
// so the records of a batch must all have been queued before its events.
func (b *Broker) collect(batch []*publishReq) (_ []*publishReq, carry *publishReq) {
	n, events := 0, false
	for _, r := range batch {
		n += r.size()
		events = events || len(r.entries) > 0
	}
	for n < b.cfg.MaxBatch {
		select {
		case r := <-b.reqs:
			if b.same == nil && events && r.recs != nil {
				return batch, r
			}
			batch = append(batch, r)
			n += r.size()
			events = events || len(r.entries) > 0
		default:
			return batch, nil
		}
	}
	return batch, nil
}

// commit writes the events and records of batch and answers every request
// of the batch. The commit itself is not cancelled by Close: in-flight
// publishes finish.
func (b *Broker) commit(batch []*publishReq) {
	entries, recs := b.entries[:0], b.recs[:0]
	for _, r := range batch {
		entries = append(entries, r.entries...)
		recs = append(recs, r.records()...)
	}
	evs, recsDurable, err := b.write(entries, recs)
	clear(recs) // drop the references to the records' values
	b.entries, b.recs = entries, recs
	if err != nil {
		for _, r := range batch {
			if !recsDurable || len(r.entries) > 0 {
				r.err = err
			}
			close(r.done)
		}
		return
	}
	fresh := evs[:0:0]
	for i, ev := range evs {
		if ev.ID == entries[i].ID {
			fresh = append(fresh, ev)
		}
	}
	if len(entries) > 0 {
		b.stats.commits.Add(1)
	}
	b.stats.published.Add(int64(len(fresh)))
	b.stats.replayed.Add(int64(len(evs) - len(fresh)))
	b.visible(fresh)
	i := 0
	for _, r := range batch {
		r.events = evs[i : i+len(r.entries) : i+len(r.entries)]
		i += len(r.entries)
		close(r.done)
	}
}

// write commits entries and recs, durably, in one transaction when the
// Log is the State, otherwise recs first, and returns the committed
// events. When it fails, recsDurable tells whether the records were
// committed all the same (by their own Put, before the Append failed).
func (b *Broker) write(entries []Entry, recs []Record) (evs []*Event, recsDurable bool, err error) {
	ctx := context.Background()
	if len(recs) > 0 && b.same != nil {
		evs, err = b.same.AppendWith(ctx, entries, recs)
	} else {
		if len(recs) > 0 {
			if err := b.state.Put(ctx, recs); err != nil {
				return nil, false, fmt.Errorf("put %d state records: %w", len(recs), err)
			}
			recsDurable = true
		}
		if len(entries) > 0 {
			evs, err = b.log.Append(ctx, entries)
		}
	}
	if err == nil && len(evs) != len(entries) {
		err = fmt.Errorf("log returned %d events for %d entries", len(evs), len(entries))
	}
	switch {
	case err != nil && len(recs) > 0:
		return nil, recsDurable, fmt.Errorf("append %d events with %d state records: %w", len(entries), len(recs), err)
	case err != nil:
		return nil, false, fmt.Errorf("append %d events: %w", len(entries), err)
	}
	return evs, true, nil
}

// visible adds committed events to the tail and wakes their rooms'
// subscribers. Called after the commit returned, never inside it. On a
// Follower, the events are added only when they follow the head (the
// follower may have delivered some of them already); when other
// processes' events come between, the follower delivers them all, in
// order.
func (b *Broker) visible(evs []*Event) {
	if len(evs) == 0 {
		return
	}
	b.mu.Lock()
	if b.follower != nil {
		if evs = b.aboveHead(evs); len(evs) == 0 || evs[0].Offset != b.tail.head+1 {
			b.mu.Unlock()
			return
		}
	}
	b.addLocked(evs, &b.notify)
}

// PublishEphemeral validates m and sends it to the current subscribers of
// m.Room without logging it. The event has no offset. Subscribers whose
// ephemeral buffer is full lose their oldest ephemeral event.
func (b *Broker) PublishEphemeral(m Message) (*Event, error) {
	data, err := b.checkMessage(m)
	if err != nil {
		return nil, err
	}
	return b.fanOutEphemeral(m, data, false)
}

// fanOutEphemeral sends the checked ephemeral message m (data: its
// compact data) to the room's current subscribers, or to those of them
// that opted in (Subscription.OptIn) when optedIn is true, and through
// the Relay, when there is one, to the other processes' (with optedIn).
func (b *Broker) fanOutEphemeral(m Message, data json.RawMessage, optedIn bool) (*Event, error) {
	now := b.cfg.Now().UTC()
	ev := &Event{ID: newID(now), Room: m.Room, Type: m.Type, Data: data, Time: now, From: m.From}
	if !b.deliverEphemeral(ev, optedIn) {
		return nil, ErrClosed
	}
	if b.relay != nil {
		if err := b.relay.SendEphemeral(ev, optedIn); err != nil {
			b.cfg.Logger.Debug("relay ephemeral event", "room", ev.Room, "type", ev.Type, "err", err)
		}
	}
	return ev, nil
}

// deliverEphemeral hands ev to the current subscribers of its room (those
// that opted in only, when optedIn). It reports false when the broker is
// closed.
func (b *Broker) deliverEphemeral(ev *Event, optedIn bool) bool {
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return false
	}
	subs := b.tail.subscribers(ev.Room, optedIn)
	b.mu.RUnlock()
	for _, s := range subs {
		s.pushEphemeral(ev)
	}
	b.stats.ephemeral.Add(1)
	return true
}

// History reads committed events of one room after the given offset,
// at most limit of them, straight from the log. See Log.Read. On a
// Follower it first asks the log for its last offset and waits for this
// broker to be delivered that far (a read sees what any node committed
// before it, and Head is not behind what it returns): one request to the
// log more.
func (b *Broker) History(ctx context.Context, room string, after uint64, limit int) (ReadResult, error) {
	if err := ValidateRoom(room); err != nil {
		return ReadResult{}, err
	}
	if err := b.catchUp(ctx); err != nil {
		return ReadResult{}, err
	}
	return b.log.Read(ctx, []string{room}, after, limit)
}

// HistoryBefore reads the newest events of room before the given offset
// (0: before the head), ascending. See Log.ReadBefore; on a Follower, it
// catches up with the log first, as History does.
func (b *Broker) HistoryBefore(ctx context.Context, room string, before uint64, limit int) ([]*Event, error) {
	if err := ValidateRoom(room); err != nil {
		return nil, err
	}
	if err := b.catchUp(ctx); err != nil {
		return nil, err
	}
	return b.log.ReadBefore(ctx, room, before, limit)
}

// Rooms lists the log's rooms. See Log.Rooms.
func (b *Broker) Rooms(ctx context.Context) ([]RoomInfo, error) { return b.log.Rooms(ctx) }

// Close stops accepting publishes (new ones get ErrClosed), commits the
// publishes already queued, and ends every subscription's Next with
// ErrClosed. It does not close the Log. Safe to call more than once.
func (b *Broker) Close() error {
	b.pubMu.Lock()
	b.pubClosed = true
	b.pubMu.Unlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.done.Store(true)
	close(b.closing)
	var notify []*Subscription
	for _, rt := range b.tail.rooms {
		for s := range rt.subs {
			if s.wake() {
				notify = append(notify, s)
			}
		}
	}
	for s := range b.idle {
		if s.wake() {
			notify = append(notify, s)
		}
	}
	b.mu.Unlock()
	for _, s := range notify {
		s.notify()
	}
	b.cancel()
	b.wg.Wait()
	return nil
}

// Trim applies retention r to the log now (see Log.Trim). The broker runs
// it every RetentionInterval with Config.Retention; call it directly to
// trim on demand.
func (b *Broker) Trim(ctx context.Context, r Retention) (int, error) {
	return b.log.Trim(ctx, r, b.cfg.Now())
}

// retention applies the retention and removes expired State records every
// RetentionInterval until Close. Errors are logged; the next tick retries.
func (b *Broker) retention() {
	t := time.NewTicker(b.cfg.RetentionInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if b.trims() {
				n, err := b.Trim(b.ctx, b.cfg.Retention)
				switch {
				case err != nil && !errors.Is(err, context.Canceled):
					b.cfg.Logger.Error("retention", "err", err)
				case n > 0:
					b.cfg.Logger.Info("retention removed events", "count", n)
				}
			}
			if b.state != nil {
				n, err := b.state.Expire(b.ctx, b.cfg.Now())
				switch {
				case err != nil && !errors.Is(err, context.Canceled):
					b.cfg.Logger.Error("state expiry", "err", err)
				case n > 0:
					b.cfg.Logger.Debug("state expiry removed records", "count", n)
				}
			}
		case <-b.ctx.Done():
			return
		}
	}
}

// Done returns a channel closed when Close begins. A subscription's Wait
// channel also fires on Close, so a gateway waiting on Wait need not select
// on Done as well (which is cheaper with many waiters: a channel shared by
// thousands of selects is a point of contention).
func (b *Broker) Done() <-chan struct{} { return b.closing }

// Stats are counters since the broker started, for metrics.
type Stats struct {
	Published     int64 // events committed
	Replayed      int64 // publishes answered from an earlier idempotent commit
	Commits       int64 // commits of events that succeeded (transactions; one of state records only is not counted)
	Ephemeral     int64 // ephemeral events sent
	Subscriptions int64 // open subscriptions
	ReadTail      int64 // events subscriptions read from the in-memory tail (live, or a recent replay)
	ReadLog       int64 // events subscriptions read from the Log (a replay from disk)
	Joins         int64 // rooms subscribed to (each room of Subscribe, each Subscription.Add)
	Leaves        int64 // rooms unsubscribed from (each Subscription.Remove, the rooms of each Close)
	Resumed       int64 // joins from a position in this log that were served without a gap
	ResetTrimmed  int64 // joins from a position that retention overtook (a reset, ErrTrimmed)
	ResetEpoch    int64 // joins from a position of another epoch or beyond the head (a reset, ErrEpochMismatch)
	ReplayTail    int64 // events of ReadTail committed before their reader followed the room (a replay; see Subscription.LiveAfter)
	ReplayLog     int64 // the same among ReadLog
	Head          uint64
}

// Stats returns the broker's counters. Safe for concurrent use.
func (b *Broker) Stats() Stats {
	return Stats{
		Published:     b.stats.published.Load(),
		Replayed:      b.stats.replayed.Load(),
		Commits:       b.stats.commits.Load(),
		Ephemeral:     b.stats.ephemeral.Load(),
		Subscriptions: b.stats.subscriptions.Load(),
		ReadTail:      b.stats.readTail.Load(),
		ReadLog:       b.stats.readLog.Load(),
		Joins:         b.stats.joins.Load(),
		Leaves:        b.stats.leaves.Load(),
		Resumed:       b.stats.resumed.Load(),
		ResetTrimmed:  b.stats.resetTrimmed.Load(),
		ResetEpoch:    b.stats.resetEpoch.Load(),
		ReplayTail:    b.stats.replayTail.Load(),
		ReplayLog:     b.stats.replayLog.Load(),
		Head:          b.Head().Offset,
	}
}
