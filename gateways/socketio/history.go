package socketio

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/rtbroker/rtbroker/gateways/internal/defaults"
	"github.com/rtbroker/rtbroker/gateways/internal/httpx"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
)

// DefaultMaxHistory is GatewayConfig.MaxHistory's default (1000), the same
// for every gateway (SSE and long-poll `history`).
const DefaultMaxHistory = defaults.MaxHistory

// joinHistory reads room:join's `history` field: how many of the room's
// last events the socket is sent before the live ones (0 or absent:
// none). It is a whole number (a JSON number or a string of digits) up to
// max; anything else is invalid_argument.
func joinHistory(fields map[string]json.RawMessage, max int) (int, error) {
	raw, ok := fields["history"]
	if !ok || string(raw) == "null" {
		return 0, nil
	}
	s := strings.Trim(string(raw), `"`)
	if s == "" {
		return 0, wire.BadRequest("history must be a whole number")
	}
	return httpx.ParseHistory(s, max)
}

// historyStart returns where a join with `history` starts the room (see
// member.join): the start of the room's last n events committed up to
// now, the head when the join was read; or, when after is given, that or
// start (where after put it), whichever is later. A room with no events
// keeps start. n == 0 changes nothing.
func (m *member) historyStart(ctx context.Context, logRoom string, n int, after *uint64, start, now uint64) (uint64, error) {
	if n == 0 {
		return start, nil
	}
	hs, ok, err := m.ns.g.b.HistoryStart(ctx, logRoom, n, now)
	switch {
	case err != nil:
		return 0, err
	case !ok:
		return start, nil
	case after == nil:
		return hs, nil
	}
	return max(start, hs), nil
}
