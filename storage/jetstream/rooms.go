package jetstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtbroker/rtbroker/broker"
)

// ReadBefore pages backwards without a reverse index: it reads the room
// forward over windows of sequences ending at before, doubling the
// window until it holds limit events or reaches the stream's start.
func (l *Log) ReadBefore(ctx context.Context, room string, before uint64, limit int) ([]*broker.Event, error) {
	if err := l.begin(); err != nil {
		return nil, err
	}
	defer l.end()
	if limit <= 0 {
		return nil, fmt.Errorf("read before: limit %d: %w", limit, broker.ErrInvalid)
	}
	hi := l.Head() // highest offset of the window
	if before > 0 {
		hi = min(hi, before-1)
	}
	var out []*broker.Event // newest last
	width := uint64(limit)
	for hi > 0 && len(out) < limit {
		lo := uint64(1)
		if hi > width {
			lo = hi - width + 1
		}
		evs, err := l.readRange(ctx, room, lo, hi)
		if err != nil {
			return nil, err
		}
		out = append(evs, out...)
		hi = lo - 1
		width *= 2
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// readRange returns the events of room with offsets in [lo, hi].
func (l *Log) readRange(ctx context.Context, room string, lo, hi uint64) ([]*broker.Event, error) {
	var out []*broker.Event
	after := lo - 1
	for {
		evs, err := l.readRoom(ctx, room, after, hi, int(min(hi-after, maxGetBatch)))
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if ev.Offset > hi {
				return out, nil
			}
			out = append(out, ev)
			after = ev.Offset
		}
		if len(evs) == 0 || after >= hi {
			return out, nil
		}
	}
}

// CountAfter answers with one direct get of the room's first event after
// `after`: the server reports how many more match (Nats-Num-Pending), so
// no other event is read.
func (l *Log) CountAfter(ctx context.Context, room string, after uint64, limit int) (int, error) {
	if err := l.begin(); err != nil {
		return 0, err
	}
	defer l.end()
	if limit <= 0 {
		return 0, fmt.Errorf("count after: limit %d: %w", limit, broker.ErrInvalid)
	}
	msgs, pending, err := l.directGet(ctx, l.subject(room), after+1, 1)
	if err != nil {
		return 0, fmt.Errorf("count room %q: %w", room, err)
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	return int(min(1+pending, uint64(limit))), nil
}

// Rooms lists the rooms with messages in the stream (the stream's
// per-subject counts, then the first and last sequence of each) and
// the rooms retention emptied (from their trim watermarks).
func (l *Log) Rooms(ctx context.Context) ([]broker.RoomInfo, error) {
	if err := l.begin(); err != nil {
		return nil, err
	}
	defer l.end()
	counts, err := l.subjectCounts(ctx)
	if err != nil {
		return nil, err
	}
	var out []broker.RoomInfo
	for room, n := range counts {
		info := broker.RoomInfo{Name: room, Count: n, Trimmed: l.mark(room)}
		if info.First, info.Head, err = l.firstLast(ctx, room); err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	l.wmMu.Lock()
	for room, w := range l.marks {
		if _, ok := counts[room]; !ok {
			out = append(out, broker.RoomInfo{Name: room, Head: w, Trimmed: w})
		}
	}
	l.wmMu.Unlock()
	slices.SortFunc(out, func(a, b broker.RoomInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// subjectCounts returns the number of messages of each room in the
// stream.
func (l *Log) subjectCounts(ctx context.Context) (map[string]uint64, error) {
	info, err := l.stream.Info(ctx, jetstream.WithSubjectFilter(l.cfg.Subject+".*"))
	if err != nil {
		return nil, fmt.Errorf("jetstream: stream info: %w", err)
	}
	out := make(map[string]uint64, len(info.State.Subjects))
	for subj, n := range info.State.Subjects {
		room, err := l.roomOf(subj)
		if err != nil {
			return nil, err
		}
		out[room] = n
	}
	return out, nil
}

// firstLast returns the offsets of room's first and last retained events.
func (l *Log) firstLast(ctx context.Context, room string) (first, last uint64, err error) {
	msgs, _, err := l.directGet(ctx, l.subject(room), 1, 1)
	if err != nil || len(msgs) == 0 {
		return 0, 0, err
	}
	m, err := l.stream.GetLastMsgForSubject(ctx, l.subject(room))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("jetstream: last of room %q: %w", room, err)
	}
	return msgs[0].seq, m.Sequence, nil
}
