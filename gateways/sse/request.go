package sse

import (
	"fmt"
	"net/url"
	"slices"

	"github.com/rtbroker/rtbroker/broker"
)

// maxEpochLen bounds the epoch query parameter. Epochs are short ids; a
// longer value cannot match and is rejected as bad input.
const maxEpochLen = 128

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
	rooms := q["room"]
	if len(rooms) == 0 {
		return req, &broker.ValidationError{Field: "room", Reason: "no room given"}
	}
	if len(rooms) > maxRooms {
		return req, &broker.ValidationError{Field: "room", Reason: fmt.Sprintf("more than %d rooms", maxRooms)}
	}
	for _, r := range rooms {
		if err := broker.ValidateRoom(r); err != nil {
			return req, err
		}
	}
	req.rooms = slices.Compact(slices.Sorted(slices.Values(rooms)))

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
	epoch := q.Get("epoch")
	if len(epoch) > maxEpochLen {
		return req, &broker.ValidationError{Field: "epoch", Reason: fmt.Sprintf("longer than %d bytes", maxEpochLen)}
	}
	if field != "after" {
		epoch = ""
	}
	req.from = broker.Position{Epoch: epoch, Offset: off}
	return req, nil
}
