package jetstream

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtbroker/rtbroker/broker"
)

// The meta bucket's keys: "w.<room token>" holds a room's trim watermark
// (8 bytes, big endian); "i.<room token>.<key, base64url>" the
// idempotency record of a key (see idemValue).
const (
	markPrefix = "w."
	idemPrefix = "i."
)

func idemKey(room, key string) string {
	return idemPrefix + RoomToken(room) + "." + base64.RawURLEncoding.EncodeToString([]byte(key))
}

// msgID is the Nats-Msg-Id of an entry with an idempotency key.
func msgID(room, key string) string {
	return RoomToken(room) + "/" + base64.RawURLEncoding.EncodeToString([]byte(key))
}

// snapshot returns the current entries of kv whose keys match filter
// (a subject filter such as "w.>"), as of one point of the bucket's
// stream: the watcher delivers the bucket in stream order, and a key
// written again (or deleted) while it does so is delivered again, so the
// last delivery of each key wins.
func snapshot(ctx context.Context, kv jetstream.KeyValue, filter string) ([]jetstream.KeyValueEntry, error) {
	w, err := kv.Watch(ctx, filter)
	if err != nil {
		return nil, err
	}
	defer func() { _ = w.Stop() }()
	last := map[string]jetstream.KeyValueEntry{}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("watcher stopped")
			}
			if e == nil {
				out := make([]jetstream.KeyValueEntry, 0, len(last))
				for _, e := range last {
					out = append(out, e)
				}
				return out, nil
			}
			if e.Operation() == jetstream.KeyValuePut {
				last[e.Key()] = e
			} else {
				delete(last, e.Key())
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// metaStreamName is the name of the meta bucket's stream.
func (l *Log) metaStreamName() string { return "KV_" + l.cfg.Stream + "_meta" }

// purgeMeta empties the meta bucket.
func (l *Log) purgeMeta(ctx context.Context) error {
	if err := l.metaStream.Purge(ctx); err != nil {
		return fmt.Errorf("jetstream: purge meta bucket: %w", err)
	}
	return nil
}

// loadMarks reads every trim watermark into l.marks.
func (l *Log) loadMarks(ctx context.Context) error {
	ctx, cancel := l.opCtx(ctx)
	defer cancel()
	entries, err := snapshot(ctx, l.meta, markPrefix+">")
	if err != nil {
		return fmt.Errorf("jetstream: load trim watermarks: %w", err)
	}
	l.wmMu.Lock()
	defer l.wmMu.Unlock()
	for _, e := range entries {
		room, err := TokenRoom(strings.TrimPrefix(e.Key(), markPrefix))
		if err != nil || len(e.Value()) != 8 {
			return fmt.Errorf("jetstream: bad watermark %q", e.Key())
		}
		l.marks[room] = binary.BigEndian.Uint64(e.Value())
	}
	return nil
}

// mark returns room's trim watermark.
func (l *Log) mark(room string) uint64 {
	l.wmMu.Lock()
	defer l.wmMu.Unlock()
	return l.marks[room]
}

// setMark raises room's trim watermark to w, in the bucket and in l.marks.
// Several nodes trim the same rooms: the bucket's value is only ever
// raised (a compare-and-set on its revision), never lowered by a node
// that had not seen another's higher mark.
func (l *Log) setMark(ctx context.Context, room string, w uint64) error {
	if w <= l.mark(room) {
		return nil
	}
	key := markPrefix + RoomToken(room)
	val := binary.BigEndian.AppendUint64(nil, w)
	for {
		e, err := l.meta.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = l.meta.Create(ctx, key, val)
		case err == nil && len(e.Value()) == 8 && binary.BigEndian.Uint64(e.Value()) >= w:
			w = binary.BigEndian.Uint64(e.Value())
		case err == nil:
			_, err = l.meta.Update(ctx, key, val, e.Revision())
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue // another node wrote it meanwhile
		}
		if err != nil {
			return fmt.Errorf("jetstream: watermark of room %q: %w", room, err)
		}
		break
	}
	l.wmMu.Lock()
	defer l.wmMu.Unlock()
	l.marks[room] = max(l.marks[room], w)
	return nil
}

// lookupIdem returns the event an idempotency key of room committed, nil
// when none is remembered. The look-up is bounded by AckTimeout whatever
// ctx allows: Append holds idemMu meanwhile, and a request whose answer
// was lost (its server died) would otherwise wait as long as ctx does.
func (l *Log) lookupIdem(ctx context.Context, room, key string) (*broker.Event, error) {
	ctx, cancel := l.opCtx(ctx)
	defer cancel()
	e, err := l.meta.Get(ctx, idemKey(room, key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: idempotency key of room %q: %w", room, unavailable(err))
	}
	return decodeIdem(room, e.Value())
}
