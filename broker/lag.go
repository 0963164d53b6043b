package broker

import (
	"context"
	"fmt"
)

// Lag returns how many events of the subscription's rooms were committed
// after the rooms' positions: what Next has still to return (ephemeral
// events aside), counting at most limit (> 0) per room. Rooms whose
// position the in-memory tail covers are counted there; the others with
// Log.CountAfter, which walks at most limit entries of the room's index.
// It is a snapshot: the reader may move on meanwhile. Safe to call from
// any goroutine; it holds no lock while it reads the Log. A closed
// subscription has no rooms and no lag.
func (s *Subscription) Lag(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		return 0, invalid("lag limit", "must be positive")
	}
	type roomPos struct {
		room string
		pos  uint64
	}
	var rps, fromLog []roomPos
	s.mu.Lock()
	if !s.closed.Load() {
		for _, g := range s.cur.groups {
			for _, r := range g.rooms {
				rps = append(rps, roomPos{r, g.pos})
			}
		}
	}
	s.mu.Unlock()
	b := s.b
	total := 0
	b.mu.RLock()
	for _, rp := range rps {
		rt := b.tail.rooms[rp.room]
		switch {
		case rt == nil && rp.pos >= b.tail.floor:
			// nothing of the room after the tail's floor
		case rt == nil || rp.pos < rt.covered:
			fromLog = append(fromLog, rp)
		default:
			total += min(rt.events.len()-searchAfter(&rt.events, rp.pos), limit)
		}
	}
	b.mu.RUnlock()
	for _, rp := range fromLog {
		n, err := b.log.CountAfter(ctx, rp.room, rp.pos, limit)
		if err != nil {
			return total, fmt.Errorf("lag of room %q after %d: %w", rp.room, rp.pos, err)
		}
		total += n
	}
	return total, nil
}
