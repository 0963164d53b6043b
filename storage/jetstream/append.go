package jetstream

import (
	"context"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/rtbroker/rtbroker/broker"
)

// JetStream headers of atomic batch publishing (nats-server 2.12+).
const (
	hdrBatchID     = "Nats-Batch-Id"
	hdrBatchSeq    = "Nats-Batch-Sequence"
	hdrBatchCommit = "Nats-Batch-Commit"
)

// Append commits entries as one JetStream atomic batch (see
// Config.MaxAtomicBatch for larger ones) and returns once the stream
// acknowledged it. Entries whose idempotency key this log remembers (in
// the meta bucket, until Trim forgets it) are not published: their result
// is the original event. With Config.Duplicates >= 0 a keyed entry also
// carries a Nats-Msg-Id, so JetStream itself drops a repeat within its
// window (a single-entry repeat then returns the original; in an atomic
// batch the server refuses the whole batch, and the call fails).
//
// Once the batch is published, Append waits for the acknowledgement even
// if ctx is canceled (the batch may be committing); the wait is bounded by
// Config.AckTimeout, after which the error does not say whether the batch
// committed (retry with idempotency keys to find out).
func (l *Log) Append(ctx context.Context, entries []broker.Entry) ([]*broker.Event, error) {
	if err := l.begin(); err != nil {
		return nil, err
	}
	defer l.end()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return []*broker.Event{}, nil
	}
	keyed := false
	for i := range entries {
		if entries[i].Room == "" {
			return nil, fmt.Errorf("append entry %d: empty room: %w", i, broker.ErrInvalid)
		}
		keyed = keyed || entries[i].IdempotencyKey != ""
	}
	if keyed {
		l.idemMu.Lock()
		defer l.idemMu.Unlock()
	}
	out := make([]*broker.Event, len(entries))
	dupOf, fresh, err := l.resolveKeys(ctx, entries, out)
	if err != nil {
		return nil, err
	}
	if err := l.publish(ctx, entries, fresh, out); err != nil {
		return nil, err
	}
	if keyed {
		if err := l.rememberKeys(entries, fresh, out); err != nil {
			return nil, err
		}
	}
	for i, j := range dupOf {
		if j >= 0 {
			out[i] = cloneEvent(out[j])
		}
	}
	return out, nil
}

// resolveKeys finds the entries whose keys were committed before (their
// results go to out) and repeats within the batch (dupOf[i] is the index
// of the first entry with i's room and key, else -1). fresh lists the
// entries to publish.
func (l *Log) resolveKeys(ctx context.Context, entries []broker.Entry, out []*broker.Event) (dupOf, fresh []int, err error) {
	dupOf = make([]int, len(entries))
	first := map[[2]string]int{}
	for i := range entries {
		dupOf[i] = -1
		e := &entries[i]
		if e.IdempotencyKey != "" {
			k := [2]string{e.Room, e.IdempotencyKey}
			if j, ok := first[k]; ok {
				dupOf[i] = j
				continue
			}
			first[k] = i
			ev, err := l.lookupIdem(ctx, e.Room, e.IdempotencyKey)
			if err != nil {
				return nil, nil, err
			}
			if ev != nil {
				out[i] = ev
				continue
			}
		}
		fresh = append(fresh, i)
	}
	return dupOf, fresh, nil
}

// publish publishes entries[fresh] in atomic batches of at most
// MaxAtomicBatch and sets their events in out.
func (l *Log) publish(ctx context.Context, entries []broker.Entry, fresh []int, out []*broker.Event) error {
	if len(fresh) > l.cfg.MaxAtomicBatch {
		// Several batches: the later ones expect the earlier ones' last
		// sequence, so nothing of this process may come between.
		l.seqMu.Lock()
		defer l.seqMu.Unlock()
	} else {
		l.seqMu.RLock()
		defer l.seqMu.RUnlock()
	}
	var last uint64
	for len(fresh) > 0 {
		n := min(len(fresh), l.cfg.MaxAtomicBatch)
		chunk := fresh[:n]
		fresh = fresh[n:]
		msgs := make([]*nats.Msg, n)
		for k, i := range chunk {
			e := &entries[i]
			msgs[k] = &nats.Msg{Subject: l.subject(e.Room), Data: encodeEvent(e), Header: nats.Header{}}
			if e.IdempotencyKey != "" && l.cfg.Duplicates > 0 {
				msgs[k].Header.Set(jetstream.MsgIDHeader, msgID(e.Room, e.IdempotencyKey))
			}
		}
		ack, err := publishAtomic(l.nc, l.js, msgs, last)
		if err != nil {
			return fmt.Errorf("append %d entries: %w", n, unavailable(err))
		}
		if ack.Duplicate {
			ev, err := l.original(ctx, ack.Sequence)
			if err != nil {
				return err
			}
			out[chunk[0]] = ev
			continue
		}
		last = ack.Sequence
		for k, i := range chunk {
			e := &entries[i]
			out[i] = &broker.Event{
				Offset: last - uint64(n-1-k), ID: e.ID, Room: e.Room, Type: e.Type,
				Data: cloneBytes(e.Data), Time: e.Time, From: e.From,
			}
		}
		l.raiseHead(last)
	}
	return nil
}

// publishAtomic publishes msgs (to subjects of one stream) as one atomic
// batch (a single message as itself) and waits for the stream's
// acknowledgement of its last message, which comes once the batch is
// committed. expectLast > 0 makes the stream refuse the batch unless its
// last sequence is expectLast. The messages' headers must not be nil.
func publishAtomic(nc *nats.Conn, js jetstream.JetStream, msgs []*nats.Msg, expectLast uint64) (*jetstream.PubAck, error) {
	if expectLast > 0 {
		msgs[0].Header.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatUint(expectLast, 10))
	}
	if len(msgs) > 1 {
		id := nuid.Next()
		for k, m := range msgs {
			m.Header.Set(hdrBatchID, id)
			m.Header.Set(hdrBatchSeq, strconv.Itoa(k+1))
		}
		msgs[len(msgs)-1].Header.Set(hdrBatchCommit, "1")
		for _, m := range msgs[:len(msgs)-1] {
			if err := nc.PublishMsg(m); err != nil {
				return nil, err
			}
		}
	}
	f, err := js.PublishMsgAsync(msgs[len(msgs)-1])
	if err != nil {
		return nil, err
	}
	select {
	case ack := <-f.Ok():
		return ack, nil
	case err := <-f.Err():
		return nil, err
	}
}

// original returns the committed event at offset seq.
func (l *Log) original(ctx context.Context, seq uint64) (*broker.Event, error) {
	m, err := l.stream.GetMsg(ctx, seq)
	if err != nil {
		return nil, fmt.Errorf("jetstream: original of a duplicate, offset %d: %w", seq, err)
	}
	room, err := l.roomOf(m.Subject)
	if err != nil {
		return nil, err
	}
	ev, _, err := decodeEvent(seq, room, m.Data)
	return ev, err
}

// rememberKeys writes the idempotency records of the keyed fresh entries,
// all in flight at once. The events are committed by then: an error here
// means a retry within the server's Duplicates window is still caught,
// later ones are not.
func (l *Log) rememberKeys(entries []broker.Entry, fresh []int, out []*broker.Event) error {
	var futs []jetstream.PubAckFuture
	subj := "$KV." + l.cfg.Stream + "_meta."
	for _, i := range fresh {
		e := &entries[i]
		if e.IdempotencyKey == "" || out[i].ID != e.ID {
			continue
		}
		f, err := l.js.PublishMsgAsync(&nats.Msg{
			Subject: subj + idemKey(e.Room, e.IdempotencyKey),
			Data:    idemValue(out[i].Offset, encodeEvent(e)),
		})
		if err != nil {
			return fmt.Errorf("jetstream: events committed, idempotency record not written: %w", err)
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("jetstream: events committed, idempotency record not written: %w", err)
		}
	}
	return nil
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

func cloneEvent(e *broker.Event) *broker.Event {
	return &broker.Event{Offset: e.Offset, ID: e.ID, Room: e.Room, Type: e.Type, Data: cloneBytes(e.Data), Time: e.Time, From: e.From}
}
