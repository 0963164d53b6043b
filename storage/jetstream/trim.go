package jetstream

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtbroker/rtbroker/broker"
)

// Trim applies r room by room: it finds the room's last event to remove
// (for MaxCount by a binary search over sequences on the server's count of
// the room's messages from a sequence on, and for Before from the count
// of the room's messages from Before on; for MaxAge by reading the room
// from its first event while events are older than now-MaxAge), records
// the room's new watermark in the meta bucket, then purges the room's
// subject below the first kept sequence. With r.Idempotency > 0 it then
// deletes the idempotency records of events older than now-Idempotency
// (it reads every record to do so).
func (l *Log) Trim(ctx context.Context, r broker.Retention, now time.Time) (int, error) {
	if err := l.begin(); err != nil {
		return 0, err
	}
	defer l.end()
	removed := 0
	if r.RemovesEvents() {
		counts, err := l.subjectCounts(ctx)
		if err != nil {
			return 0, err
		}
		for _, room := range slices.Sorted(maps.Keys(counts)) {
			n, err := l.trimRoom(ctx, room, counts[room], r.For(room), now)
			removed += n
			if err != nil {
				return removed, err
			}
		}
	}
	if r.Idempotency > 0 {
		if err := l.forgetKeys(ctx, now.Add(-r.Idempotency)); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// trimRoom removes the events of room (count of them) that lim no longer
// keeps.
func (l *Log) trimRoom(ctx context.Context, room string, count uint64, lim broker.Retention, now time.Time) (int, error) {
	var w, k uint64 // the last event to remove, how many go
	if lim.MaxCount > 0 && count > uint64(lim.MaxCount) {
		var err error
		if w, err = l.countCut(ctx, room, uint64(lim.MaxCount)); err != nil {
			return 0, err
		}
		k = count - uint64(lim.MaxCount)
	}
	if lim.Before > 1 {
		// The events at or after Before stay: cut where that many remain.
		keep, err := l.pendingFrom(ctx, room, lim.Before)
		if err != nil {
			return 0, err
		}
		if count > keep {
			wb, err := l.countCut(ctx, room, keep)
			if err != nil {
				return 0, err
			}
			if wb > w {
				w, k = wb, count-keep
			}
		}
	}
	if lim.MaxAge > 0 {
		wa, ka, err := l.ageCut(ctx, room, now.Add(-lim.MaxAge))
		if err != nil {
			return 0, err
		}
		if wa > w {
			w, k = wa, ka
		}
	}
	if w == 0 {
		return 0, nil
	}
	// The watermark first: a failed purge then reports a gap that is
	// not there, never the reverse.
	if err := l.setMark(ctx, room, w); err != nil {
		return 0, err
	}
	err := l.stream.Purge(ctx, jetstream.WithPurgeSubject(l.subject(room)), jetstream.WithPurgeSequence(w+1))
	if err != nil {
		return 0, fmt.Errorf("jetstream: purge room %q through %d: %w", room, w, err)
	}
	return int(k), nil
}

// pendingFrom returns how many events of room have offsets >= seq.
func (l *Log) pendingFrom(ctx context.Context, room string, seq uint64) (uint64, error) {
	msgs, pending, err := l.directGet(ctx, l.subject(room), seq, 1)
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	return 1 + pending, nil
}

// countCut returns the offset of the last event of room to remove so
// that keep remain: the largest sequence s with keep+1 events at or
// after it.
func (l *Log) countCut(ctx context.Context, room string, keep uint64) (uint64, error) {
	lo, hi, err := l.firstLast(ctx, room)
	if err != nil {
		return 0, err
	}
	for lo < hi { // invariant: pendingFrom(lo) > keep
		mid := lo + (hi-lo+1)/2
		p, err := l.pendingFrom(ctx, room, mid)
		if err != nil {
			return 0, err
		}
		if p > keep {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, nil
}

// ageCut returns the offset of the last of the events of room, from the
// first on, whose Time is before cutoff, and how many they are.
func (l *Log) ageCut(ctx context.Context, room string, cutoff time.Time) (w, k uint64, err error) {
	var after uint64
	for {
		evs, err := l.readRoom(ctx, room, after, 0, 256) // a cut that misses a replica's last events is only smaller
		if err != nil {
			return 0, 0, err
		}
		for _, ev := range evs {
			if !ev.Time.Before(cutoff) {
				return w, k, nil
			}
			w, k = ev.Offset, k+1
			after = ev.Offset
		}
		if len(evs) < 256 {
			return w, k, nil
		}
	}
}

// forgetKeys deletes the idempotency records of events older than cutoff.
func (l *Log) forgetKeys(ctx context.Context, cutoff time.Time) error {
	entries, err := snapshot(ctx, l.meta, idemPrefix+">")
	if err != nil {
		return fmt.Errorf("jetstream: idempotency records: %w", err)
	}
	for _, e := range entries {
		tok, _, _ := strings.Cut(strings.TrimPrefix(e.Key(), idemPrefix), ".")
		room, err := TokenRoom(tok)
		if err != nil {
			return err
		}
		ev, err := decodeIdem(room, e.Value())
		if err != nil {
			return fmt.Errorf("jetstream: idempotency record %q: %w", e.Key(), err)
		}
		if !ev.Time.Before(cutoff) {
			continue
		}
		if err := l.meta.Delete(ctx, e.Key(), jetstream.LastRevision(e.Revision())); err != nil {
			return fmt.Errorf("jetstream: forget idempotency record %q: %w", e.Key(), err)
		}
	}
	return nil
}
