package broker

import (
	"context"
	"fmt"
)

// HistoryStart returns the position from which a subscriber reads the
// last n events of room committed at or below upto (0: the head), so that
// following the room from it (Subscribe, Subscription.Add) sends those n
// events and then the live ones, each once: the offset just below the
// first of them. ok is false when the room has no retained event up to
// upto (the caller keeps the start it had). A room with fewer than n
// events starts before its first retained one, which is never a reset.
//
// Errors: ErrInvalid for a bad room name or n < 1, ErrClosed, or a Log
// read error.
func (b *Broker) HistoryStart(ctx context.Context, room string, n int, upto uint64) (start uint64, ok bool, err error) {
	if n < 1 {
		return 0, false, &ValidationError{Field: "history", Reason: "must be positive"}
	}
	before := uint64(0)
	if upto > 0 {
		before = upto + 1
	}
	evs, err := b.HistoryBefore(ctx, room, before, n)
	if err != nil {
		return 0, false, fmt.Errorf("last %d events of room %q: %w", n, room, err)
	}
	if len(evs) == 0 {
		return 0, false, nil
	}
	return evs[0].Offset - 1, true, nil
}
