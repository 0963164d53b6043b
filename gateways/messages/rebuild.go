package messages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rtbroker/rtbroker/broker"
)

// rebuildBatch is how many events a rebuild reads, and records it
// writes, at a time.
const rebuildBatch = 1000

// Built reports whether the projection has been built from the log (by
// Rebuild); a log that never had one (created before this feature, or a
// state store that was lost) needs a Rebuild before the view is right.
func (s *Service) Built(ctx context.Context) (bool, error) {
	_, err := s.b.GetState(ctx, builtKey)
	switch {
	case errors.Is(err, broker.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// EnsureBuilt runs Rebuild when the projection has never been built, or
// always when force is set, and reports how many change records it wrote
// (0 when it did not rebuild).
func (s *Service) EnsureBuilt(ctx context.Context, force bool) (int, error) {
	if !force {
		built, err := s.Built(ctx)
		if err != nil || built {
			return 0, err
		}
	}
	return s.Rebuild(ctx)
}

// Rebuild recomputes the projection from the log: for every room, it
// removes the room's change records and folds the room's retained events
// again, in offset order: an edit replaces the record of the message it
// names (the later offset wins), a delete replaces it for good, and a
// change whose message is not retained (trimmed) or is itself a change is
// skipped; records of trimmed messages go with it. It then marks the
// projection built and returns how many change records it wrote.
//
// It trusts the change events of the log (only Service logs them; the
// generic publish paths refuse their types) and must run while no change
// is being made: rtbroker serve runs it at start, before it listens. Its
// memory is the change records of one room.
func (s *Service) Rebuild(ctx context.Context) (int, error) {
	rooms, err := s.b.Rooms(ctx)
	if err != nil {
		return 0, fmt.Errorf("rebuild messages: %w", err)
	}
	total := 0
	for _, ri := range rooms {
		if broker.IsInternalRoom(ri.Name) {
			continue
		}
		n, err := s.rebuildRoom(ctx, ri.Name)
		if err != nil {
			return total, fmt.Errorf("rebuild messages of room %q: %w", ri.Name, err)
		}
		total += n
	}
	if err := s.b.PutState(ctx, broker.Record{Key: builtKey, Value: []byte(`{}`)}); err != nil {
		return total, fmt.Errorf("rebuild messages: %w", err)
	}
	return total, nil
}

// rebuildRoom rebuilds the change records of one room.
func (s *Service) rebuildRoom(ctx context.Context, room string) (int, error) {
	var recs []broker.Record
	err := s.b.ScanState(ctx, roomPrefix(room), func(r broker.Record) bool {
		recs = append(recs, broker.Record{Key: r.Key}) // delete
		return true
	})
	if err != nil {
		return 0, err
	}
	changes := map[uint64]*change{}
	var order []uint64
	for after := uint64(0); ; {
		res, err := s.b.History(ctx, room, after, rebuildBatch)
		if err != nil {
			return 0, err
		}
		for _, ev := range res.Events {
			after = ev.Offset
			if !IsChangeType(ev.Type) {
				continue
			}
			off, c, err := s.replay(ctx, room, ev)
			if err != nil {
				return 0, err
			}
			if c == nil || (changes[off] != nil && changes[off].Op == opDelete) {
				continue
			}
			if changes[off] == nil {
				order = append(order, off)
			}
			changes[off] = c
		}
		if len(res.Events) < rebuildBatch {
			break
		}
	}
	for _, off := range order {
		recs = append(recs, changes[off].record(room, off))
	}
	for len(recs) > 0 {
		n := min(len(recs), rebuildBatch)
		if err := s.b.PutState(ctx, recs[:n]...); err != nil {
			return 0, err
		}
		recs = recs[n:]
	}
	return len(order), nil
}

// replay returns the record the change event ev makes, with the offset of
// the message it changes, or a nil change when it changes nothing (its
// message is not retained, or is not a message).
func (s *Service) replay(ctx context.Context, room string, ev *broker.Event) (uint64, *change, error) {
	var r ref
	if err := json.Unmarshal(ev.Data, &r); err != nil || r.Offset == 0 || r.Offset >= ev.Offset {
		return 0, nil, nil
	}
	res, err := s.b.History(ctx, room, r.Offset-1, 1)
	if err != nil {
		return 0, nil, err
	}
	if len(res.Events) == 0 || res.Events[0].Offset != r.Offset || res.Events[0].ID != r.ID || IsChangeType(res.Events[0].Type) {
		return 0, nil, nil
	}
	c := &change{Op: opEdit, Of: r.ID, ID: ev.ID, Time: ev.Time, From: ev.From, Data: r.Data}
	if ev.Type == DeleteType {
		c.Op, c.Data = opDelete, nil
	} else if len(r.Data) == 0 {
		return 0, nil, nil
	}
	return r.Offset, c, nil
}
