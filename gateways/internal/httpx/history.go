package httpx

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/rtbroker/rtbroker/broker"
)

// ParseHistory reads a `history` count (a query parameter, or a Socket.IO
// join's field as text): 0 when s is empty, else a whole number from 0 to
// max. Errors wrap broker.ErrInvalid and say the bound.
func ParseHistory(s string, max int) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || s[0] == '+' {
		return 0, &broker.ValidationError{Field: "history", Reason: fmt.Sprintf("must be a whole number from 0 to %d", max)}
	}
	if n > uint64(max) {
		return 0, &broker.ValidationError{Field: "history", Reason: fmt.Sprintf("%d is more than the maximum, %d", n, max)}
	}
	return int(n), nil
}

// History returns the `history` parameter of q (see ParseHistory).
func History(q url.Values, max int) (int, error) { return ParseHistory(q.Get("history"), max) }

// StartAtHistory makes sub, just opened on rooms and not read yet, send
// each room's last n events (broker.HistoryStart) before the live ones:
// a room moves to the start of its history when that is later than where
// it is, or always when live (the subscription was opened at the head
// because the client gave no position). A room without events keeps its
// position. Each room gets its own last n, exactly, as the cursor follows
// each room from its own position. Errors are the broker's; the caller
// closes sub.
func StartAtHistory(ctx context.Context, b *broker.Broker, sub *broker.Subscription, rooms []string, n int, live bool) error {
	if n <= 0 {
		return nil
	}
	for _, room := range rooms {
		start, ok, err := b.HistoryStart(ctx, room, n, 0)
		if err != nil {
			return err
		}
		if pos, _ := sub.RoomPosition(room); !ok || !live && start <= pos {
			continue
		}
		if _, err := sub.Add(ctx, room, broker.Position{Offset: start}); err != nil {
			return err
		}
	}
	return nil
}
