package jetstream

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/rtbroker/rtbroker/broker"
)

// maxGetBatch caps the messages of one batched direct get.
const maxGetBatch = 1000

// rawMsg is one message of a direct get.
type rawMsg struct {
	seq  uint64
	subj string
	data []byte
}

// directGet asks the stream for up to batch messages matching filter with
// sequences from seq on (a batched direct get), and returns them with the
// number of matching messages after the last one returned (or, when none
// is found, 0). The server may return fewer than batch while more match
// (it caps the bytes of a response); then pending > 0.
func (l *Log) directGet(ctx context.Context, filter string, seq uint64, batch int) ([]rawMsg, uint64, error) {
	ctx, cancel := l.opCtx(ctx)
	defer cancel()
	req, _ := json.Marshal(struct {
		Seq     uint64 `json:"seq"`
		NextFor string `json:"next_by_subj"`
		Batch   int    `json:"batch"`
	}{max(seq, 1), filter, min(batch, maxGetBatch)})
	inbox := l.nc.NewRespInbox()
	sub, err := l.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := l.nc.PublishRequest("$JS.API.DIRECT.GET."+l.cfg.Stream, inbox, req); err != nil {
		return nil, 0, err
	}
	var out []rawMsg
	var pending uint64
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("jetstream: direct get: %w", unavailable(err))
		}
		switch status := m.Header.Get("Status"); status {
		case "":
		case "404":
			return out, 0, nil
		case "204": // end of batch
			pending, _ = strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
			return out, pending, nil
		default:
			return nil, 0, fmt.Errorf("jetstream: direct get: status %s %s", status, m.Header.Get("Description"))
		}
		s, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("jetstream: direct get: bad sequence %q", m.Header.Get("Nats-Sequence"))
		}
		out = append(out, rawMsg{seq: s, subj: m.Header.Get("Nats-Subject"), data: m.Data})
	}
}

// readRoom returns up to limit events of room with offsets above after,
// in order, with every event of the room at or below upto among them
// (unless limit came first). Batched direct gets may be answered by any
// replica, and a replica may not have stored yet what the stream already
// acknowledged; a direct get from such a replica ends early without a
// sign of it. So on a replicated stream a read that ends below limit asks
// the stream leader, which holds every acknowledged message, for the next
// message of the room, and takes what the replica missed from the leader
// up to upto: a subscriber reading a gap of its node's tail never passes
// an event it did not get.
func (l *Log) readRoom(ctx context.Context, room string, after, upto uint64, limit int) ([]*broker.Event, error) {
	var out []*broker.Event
	subj := l.subject(room)
	add := func(seq uint64, data []byte) error {
		ev, _, err := decodeEvent(seq, room, data)
		if err != nil {
			return fmt.Errorf("read room %q offset %d: %w", room, seq, err)
		}
		out = append(out, ev)
		after = seq
		return nil
	}
	for len(out) < limit {
		msgs, pending, err := l.directGet(ctx, subj, after+1, limit-len(out))
		if err != nil {
			return nil, fmt.Errorf("read room %q: %w", room, err)
		}
		for _, m := range msgs {
			if err := add(m.seq, m.data); err != nil {
				return nil, err
			}
		}
		if len(msgs) == 0 || pending == 0 {
			break
		}
	}
	for l.cfg.Replicas > 1 && len(out) < limit && after < upto {
		seq, data, err := l.leaderNext(ctx, subj, after+1)
		if err != nil {
			return nil, fmt.Errorf("read room %q: %w", room, err)
		}
		if seq == 0 || seq > upto {
			break
		}
		if err := add(seq, data); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// leaderNext returns the first message of subject filter at or after seq
// as the stream leader has it ($JS.API.STREAM.MSG.GET, which only the
// leader answers), or seq 0 when there is none.
func (l *Log) leaderNext(ctx context.Context, filter string, seq uint64) (uint64, []byte, error) {
	ctx, cancel := l.opCtx(ctx)
	defer cancel()
	m, err := leaderGet(ctx, l.nc, l.cfg.Stream, struct {
		Seq     uint64 `json:"seq"`
		NextFor string `json:"next_by_subj"`
	}{max(seq, 1), filter})
	if err != nil || m == nil {
		return 0, nil, err
	}
	return m.Seq, m.Data, nil
}

// Read reads each room from after with batched direct gets filtered by
// its subject (at most limit events per room), merges them in offset
// order and keeps the first limit. It reads no further than the head as
// it was before the read (events committed meanwhile come with the next
// read): every event at or below that head is committed, so each room's
// read holds all of that room's events up to it, and Through — the last
// event's offset when limit events came back, else that head — never
// passes an event a slower room's read did not see.
func (l *Log) Read(ctx context.Context, rooms []string, after uint64, limit int) (broker.ReadResult, error) {
	if err := l.begin(); err != nil {
		return broker.ReadResult{}, err
	}
	defer l.end()
	if limit <= 0 {
		return broker.ReadResult{}, fmt.Errorf("read: limit %d: %w", limit, broker.ErrInvalid)
	}
	head := l.Head()
	rooms = slices.Compact(slices.Sorted(slices.Values(rooms)))
	var res broker.ReadResult
	for _, room := range rooms {
		if l.beforeRoomRead != nil {
			l.beforeRoomRead(room)
		}
		var evs []*broker.Event
		if after < head {
			var err error
			if evs, err = l.readRoom(ctx, room, after, head, limit); err != nil {
				return broker.ReadResult{}, err
			}
		}
		// The watermark after the read: Trim raises it before it purges,
		// so a read that met a purge sees its watermark here (read before,
		// a trim between the two would leave a gap unreported). Events at
		// or below it are trimmed, or about to be: not returned.
		w := l.mark(room)
		if w > after {
			res.Trimmed = max(res.Trimmed, w)
		}
		for _, ev := range evs {
			if ev.Offset <= head && ev.Offset > w {
				res.Events = append(res.Events, ev)
			}
		}
	}
	slices.SortFunc(res.Events, func(a, b *broker.Event) int { return cmp.Compare(a.Offset, b.Offset) })
	if len(res.Events) >= limit {
		res.Events = res.Events[:limit]
		res.Through = res.Events[limit-1].Offset
		return res, nil
	}
	res.Through = head
	return res, nil
}
