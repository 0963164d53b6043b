package sse

import (
	"net/url"

	"github.com/rtbroker/rtbroker/gateways/internal/defaults"
	"github.com/rtbroker/rtbroker/gateways/internal/httpx"
)

// DefaultMaxHistory is Config.MaxHistory's default, the same for every
// gateway (long-poll, Socket.IO room:join).
const DefaultMaxHistory = defaults.MaxHistory

// parseHistory reads the `history` parameter of an SSE request: how many
// of each room's last events the stream starts with (0: none). It is
// validated always, and ignored when the stream resumes from a
// Last-Event-ID (the header, or the lastEventId parameter): a
// reconnecting EventSource keeps its URL, and its resume position is
// exact, where the last N would skip what it missed beyond them. With
// `after`, each room starts at whichever is later (httpx.StartAtHistory).
// Errors wrap broker.ErrInvalid.
func parseHistory(q url.Values, lastEventID string, max int) (int, error) {
	n, err := httpx.History(q, max)
	if err != nil || lastEventID != "" || q.Get("lastEventId") != "" {
		return 0, err
	}
	return n, nil
}
