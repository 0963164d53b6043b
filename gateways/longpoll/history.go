package longpoll

import (
	"context"
	"errors"
	"slices"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/internal/defaults"
)

// DefaultMaxHistory is Config.MaxHistory's default, the same for every
// gateway (SSE, Socket.IO room:join). A poll with history=N starts each
// room at its last N events (with `after`, at whichever is later: see
// httpx.StartAtHistory); the response holds at most `limit` of them, and
// the client continues with after=next, without history (which, being
// later than next once more than N events follow, would skip some).
const DefaultMaxHistory = defaults.MaxHistory

// more returns evs (the first events a poll read) followed by what the
// subscription has ready at once, up to limit in all: a poll whose rooms
// start at different positions (history=N, say) reads them one group
// at a time, and the answer should not stop at the first group's. The
// events stay in offset order (the cursor's order between two room
// additions). Reading stops at the first error: a reset (retention
// overtook a room) is returned for the answer to carry, since the
// room's position has moved past it; other errors are left to the next
// poll, which starts from this answer's next and meets them again.
func more(ctx context.Context, sub *broker.Subscription, evs []*broker.Event, limit int) ([]*broker.Event, *broker.ResetError) {
	out := slices.Clone(evs) // evs is valid until the next TryNext only
	for len(out) < limit {
		next, err := sub.TryNext(ctx, limit-len(out))
		var re *broker.ResetError
		if errors.As(err, &re) {
			return out, re
		}
		if err != nil || len(next) == 0 {
			break
		}
		out = append(out, next...)
	}
	return out, nil
}
