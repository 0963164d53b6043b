package sse

import (
	"fmt"
	"net/url"

	"github.com/rtbroker/rtbroker/gateways/internal/httpx"

	"github.com/rtbroker/rtbroker/broker"
)

// request is a parsed SSE request.
type request struct {
	rooms []string // validated, at least one, sorted, no duplicates
	// live is true when the client gave no position: the stream starts at
	// the current head. from is meaningful only when live is false.
	live bool
	from broker.Position
}

// parseRequest reads the rooms and the resume position of an SSE request.
// The position comes from, in order of priority: lastEventID (the
// Last-Event-ID header, empty when absent), the lastEventId query parameter
// (sent by EventSource polyfills), the after query parameter. With none of
// them the request is live. The epoch parameter, when present, is the epoch
// of an `after` position; it does not apply to a Last-Event-ID, which is an
// id the stream itself sent (after a reset, in the log's current epoch), so
// a reconnecting EventSource whose URL still names an old epoch does not
// reset again. Every error wraps broker.ErrInvalid.
func parseRequest(q url.Values, lastEventID string, maxRooms int) (request, error) {
	var req request
	rooms, err := httpx.Rooms(q, maxRooms)
	if err != nil {
		return req, err
	}
	req.rooms = rooms

	field, raw := "", ""
	switch {
	case lastEventID != "":
		field, raw = "Last-Event-ID", lastEventID
	case q.Get("lastEventId") != "":
		field, raw = "lastEventId", q.Get("lastEventId")
	case q.Has("after"):
		field, raw = "after", q.Get("after")
	default:
		req.live = true
		return req, nil
	}
	off, err := broker.ParseOffset(raw)
	if err != nil {
		return req, fmt.Errorf("%s: %w", field, err)
	}
	epoch, err := httpx.Epoch(q)
	if err != nil {
		return req, err
	}
	if field != "after" {
		epoch = ""
	}
	req.from = broker.Position{Epoch: epoch, Offset: off}
	return req, nil
}
