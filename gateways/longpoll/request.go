package longpoll

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"time"

	"github.com/rtbroker/rtbroker/gateways/internal/httpx"

	"github.com/rtbroker/rtbroker/broker"
)

// request is a parsed poll.
type request struct {
	rooms []string // validated, at least one, sorted, no duplicates
	// live is true when the client gave no after: the poll waits for events
	// after the current head. from is meaningful only when live is false.
	live    bool
	from    broker.Position
	timeout time.Duration // how long to hold the request, 0..MaxTimeout
	limit   int           // 1..MaxLimit
}

// limits are the bounds parseRequest applies; they come from Config.
type limits struct {
	maxRooms       int
	defaultTimeout time.Duration
	maxTimeout     time.Duration
	defaultLimit   int
	maxLimit       int
}

// parseRequest reads a poll's query. A timeout or limit above its maximum
// is lowered to it. Every error wraps broker.ErrInvalid.
func parseRequest(q url.Values, lim limits) (request, error) {
	req := request{timeout: lim.defaultTimeout, limit: lim.defaultLimit}
	rooms, err := httpx.Rooms(q, lim.maxRooms)
	if err != nil {
		return req, err
	}
	req.rooms = rooms

	if q.Has("after") {
		off, err := broker.ParseOffset(q.Get("after"))
		if err != nil {
			return req, fmt.Errorf("after: %w", err)
		}
		epoch, err := httpx.Epoch(q)
		if err != nil {
			return req, err
		}
		req.from = broker.Position{Epoch: epoch, Offset: off}
	} else {
		req.live = true
	}
	if q.Has("timeout") {
		d, err := parseTimeout(q.Get("timeout"))
		if err != nil {
			return req, err
		}
		req.timeout = min(d, lim.maxTimeout)
	}
	if q.Has("limit") {
		n, err := parseLimit(q.Get("limit"))
		if err != nil {
			return req, err
		}
		req.limit = int(min(n, uint64(lim.maxLimit)))
	}
	return req, nil
}

// parseLimit reads a positive decimal integer. A value too large for
// uint64 saturates (the caller lowers it to the maximum anyway).
func parseLimit(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if e, ok := err.(*strconv.NumError); ok && e.Err == strconv.ErrRange {
		n, err = math.MaxUint64, nil
	}
	if err != nil || n == 0 || s[0] == '+' {
		return 0, &broker.ValidationError{Field: "limit", Reason: "not a positive integer"}
	}
	return n, nil
}

// parseTimeout reads a Go duration ("25s", "500ms") or a plain number of
// seconds ("25", "2.5"). Negative values and malformed ones are errors; a huge number of seconds
// saturates.
func parseTimeout(s string) (time.Duration, error) {
	bad := &broker.ValidationError{Field: "timeout", Reason: `not a duration ("25s", "500ms") or a number of seconds`}
	if s == "" || len(s) > 32 {
		return 0, bad
	}
	if isSeconds(s) {
		secs, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, bad
		}
		if secs >= math.MaxInt64/float64(time.Second) {
			return math.MaxInt64, nil
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, bad
	}
	if d < 0 {
		return 0, &broker.ValidationError{Field: "timeout", Reason: "negative"}
	}
	return d, nil
}

// isSeconds reports whether s is digits with at most one decimal point,
// with a digit on at least one side of it.
func isSeconds(s string) bool {
	dot, digits := false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}
