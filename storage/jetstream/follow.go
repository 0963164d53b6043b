package jetstream

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtbroker/rtbroker/broker"
)

var (
	_ broker.Follower = (*Log)(nil)
	_ broker.Relay    = (*Log)(nil)
)

// maxFollowBatch caps the events of one call of Follow's fn.
const maxFollowBatch = 256

// Headers of the ephemeral events a Log sends: nodeHeader names the Log
// that sent one, so that it does not deliver its own back; optInHeader
// marks one for the subscribers that opted in to the room's
// announcements only (broker.AnnounceOptIn).
const (
	nodeHeader  = "Rtb-Node"
	optInHeader = "Rtb-Opt-In"
)

// Follow implements broker.Follower with an ordered consumer of the
// stream (an ephemeral, flow-controlled consumer that nats.go recreates
// from the last delivered sequence whenever it detects a gap in its own
// delivery sequence or loses its server): what it delivers is every
// message of the stream, in stream order, each once; the stream
// sequences it skips are messages removed before they were delivered.
// Messages are handed to fn in batches of what has arrived, at most
// maxFollowBatch, after Head is raised to the batch's last offset.
//
// While it follows, it also watches the meta bucket's trim watermarks
// (from their current values, so that a Follow started again misses none
// written meanwhile), so that a Read reports the trims other nodes made
// (see Trim): a read within the moment between another node's purge and
// its watermark reaching this watch (milliseconds on a healthy cluster)
// can miss the report.
//
// Watchdogs (see StallAfter) make Follow return an error wrapping
// broker.ErrStalled when its delivery goes silent while the stream holds
// a later message, or the watch of the watermarks does while the bucket
// holds a later watermark: nats.go's ordered consumer (a watch is one too)
// can take 10 s or more to notice that the server holding it died (the
// stream leader, killed), with no error to Follow meanwhile. Errors
// nats.go reports about the consumer are kept and quoted in the error
// Follow returns.
//
// A message that does not decode stops Follow with an error (the caller
// follows again from the same place; nothing is skipped). When the stream
// is deleted, the consumer cannot be recreated and Follow returns an
// error: a recreated stream is a new epoch, and the node must be
// restarted to serve it.
func (l *Log) Follow(ctx context.Context, after uint64, fn func([]*broker.Event)) error {
	if err := l.begin(); err != nil {
		return err
	}
	l.end() // Follow runs until ctx ends: it must not hold Close off
	cons, err := l.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{l.cfg.Subject + ".*"},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    after + 1,
	})
	if err != nil {
		return fmt.Errorf("jetstream: follow from %d: %w", after+1, err)
	}
	marks, err := l.meta.Watch(ctx, markPrefix+">")
	if err != nil {
		return fmt.Errorf("jetstream: watch trim watermarks: %w", err)
	}
	defer func() { _ = marks.Stop() }()
	markUpdates := marks.Updates()
	if l.silenceMarks != nil && l.silenceMarks() {
		markUpdates = nil // a fault injected by a test: the watch goes silent
	}
	in := make(chan *broker.Event, maxFollowBatch)
	bad := make(chan error, 1)
	stop := make(chan struct{}) // unblocks the handler once Follow returns
	defer close(stop)
	watch, markWatch := l.followWatch(), l.marksWatch()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		ev, err := l.decodeMsg(m)
		if err != nil {
			select {
			case bad <- err:
			default:
			}
			return
		}
		select {
		case in <- ev:
		case <-stop:
		}
	}, jetstream.ConsumeErrHandler(watch.consumeErr))
	if err != nil {
		return fmt.Errorf("jetstream: follow from %d: %w", after+1, err)
	}
	defer l.stopLater(cc)
	closed := cc.Closed() // each call starts a goroutine: once, not per loop
	tick := time.NewTicker(stallProbe)
	defer tick.Stop()
	delivered, count := after, uint64(0)
	var markRev, markCount uint64 // the watermark watch's last revision, and its deliveries
	batch := make([]*broker.Event, 0, maxFollowBatch)
	for {
		select {
		case ev := <-in:
			batch = append(batch[:0], ev)
		more:
			for len(batch) < maxFollowBatch {
				select {
				case ev := <-in:
					batch = append(batch, ev)
				default:
					break more
				}
			}
			delivered = batch[len(batch)-1].Offset
			count += uint64(len(batch))
			l.raiseHead(delivered)
			fn(batch)
			batch = make([]*broker.Event, 0, maxFollowBatch) // fn owns the last one
		case e, ok := <-markUpdates:
			if !ok {
				return fmt.Errorf("jetstream: watch trim watermarks: the watch stopped (follower at offset %d)", delivered)
			}
			if e != nil { // nil: the current values are all delivered
				l.learnMark(e)
				markRev, markCount = e.Revision(), markCount+1
			}
		case now := <-tick.C:
			if err := watch.tick(ctx, count, delivered, now); err != nil {
				return err
			}
			if err := markWatch.tick(ctx, markCount, markRev, now); err != nil {
				return err
			}
		case err := <-bad:
			return err
		case <-closed:
			return fmt.Errorf("jetstream: follow: the consumer stopped after offset %d%s", delivered, watch.lastConsumeErr())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// decodeMsg turns a message of the stream into its event.
func (l *Log) decodeMsg(m jetstream.Msg) (*broker.Event, error) {
	md, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("jetstream: follow: %w", err)
	}
	room, err := l.roomOf(m.Subject())
	if err != nil {
		return nil, err
	}
	ev, _, err := decodeEvent(md.Sequence.Stream, room, m.Data())
	if err != nil {
		return nil, fmt.Errorf("jetstream: follow: offset %d: %w", md.Sequence.Stream, err)
	}
	return ev, nil
}

// learnMark raises the local copy of a watermark another node wrote.
func (l *Log) learnMark(e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut || len(e.Value()) != 8 {
		return
	}
	room, err := TokenRoom(strings.TrimPrefix(e.Key(), markPrefix))
	if err != nil {
		return
	}
	l.wmMu.Lock()
	defer l.wmMu.Unlock()
	l.marks[room] = max(l.marks[room], binary.BigEndian.Uint64(e.Value()))
}

// LastOffset returns the stream's last sequence, as the server has it,
// and raises Head to it. While Available last found the stream without
// a leader, it fails at once with that error (wrapping
// broker.ErrUnavailable) instead of waiting for an answer that will not
// come.
func (l *Log) LastOffset(ctx context.Context) (uint64, error) {
	if err := l.begin(); err != nil {
		return 0, err
	}
	defer l.end()
	if down := l.down.Load(); down != nil {
		return 0, *down
	}
	ctx, cancel := l.opCtx(ctx)
	defer cancel()
	info, err := l.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("jetstream: stream %s: %w", l.cfg.Stream, unavailable(err))
	}
	l.raiseHead(info.State.LastSeq)
	return info.State.LastSeq, nil
}

// ephemeralSubject returns the core NATS subject of room's ephemeral
// events: Config.Ephemeral + "." + the room's token, outside the stream.
func (l *Log) ephemeralSubject(room string) string {
	return l.cfg.Ephemeral + "." + RoomToken(room)
}

// SendEphemeral implements broker.Relay: it publishes ev on core NATS
// (at most once, not stored) to the Logs of the other nodes.
func (l *Log) SendEphemeral(ev *broker.Event, optedIn bool) error {
	e := broker.Entry{ID: ev.ID, Room: ev.Room, Type: ev.Type, Data: ev.Data, Time: ev.Time, From: ev.From}
	m := &nats.Msg{Subject: l.ephemeralSubject(ev.Room), Data: encodeEvent(&e), Header: nats.Header{}}
	m.Header.Set(nodeHeader, l.node)
	if optedIn {
		m.Header.Set(optInHeader, "1")
	}
	if err := l.nc.PublishMsg(m); err != nil {
		return fmt.Errorf("jetstream: send ephemeral event: %w", err)
	}
	return nil
}

// FollowEphemeral implements broker.Relay with a core NATS subscription
// to every room's ephemeral subject. fn runs on the subscription's
// goroutine. When this node falls too far behind (the connection's
// pending limits), NATS drops ephemeral events: they are best effort.
func (l *Log) FollowEphemeral(ctx context.Context, fn func(*broker.Event, bool)) error {
	sub, err := l.nc.Subscribe(l.cfg.Ephemeral+".*", func(m *nats.Msg) {
		if m.Header.Get(nodeHeader) == l.node {
			return
		}
		room, err := TokenRoom(strings.TrimPrefix(m.Subject, l.cfg.Ephemeral+"."))
		if err != nil {
			return
		}
		ev, _, err := decodeEvent(0, room, m.Data)
		if err != nil {
			return
		}
		fn(ev, m.Header.Get(optInHeader) == "1")
	})
	if err != nil {
		return fmt.Errorf("jetstream: follow ephemeral events: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	<-ctx.Done()
	return ctx.Err()
}
