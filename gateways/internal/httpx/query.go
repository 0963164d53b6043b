package httpx

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/rtbroker/rtbroker/broker"
)

// MaxEpochLen bounds an epoch query parameter. Epochs are short ids; a
// longer value cannot match and is rejected as bad input.
const MaxEpochLen = 128

// Rooms returns the validated `room` parameters of q, sorted and without
// duplicates: at least one, at most max. Errors wrap broker.ErrInvalid.
func Rooms(q url.Values, max int) ([]string, error) {
	rooms := q["room"]
	if len(rooms) == 0 {
		return nil, &broker.ValidationError{Field: "room", Reason: "no room given"}
	}
	if len(rooms) > max {
		return nil, &broker.ValidationError{Field: "room", Reason: fmt.Sprintf("more than %d rooms", max)}
	}
	for _, r := range rooms {
		if err := broker.ValidatePublicRoom(r); err != nil {
			return nil, err
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(rooms))), nil
}

// Epoch returns the `epoch` parameter of q. Errors wrap broker.ErrInvalid.
func Epoch(q url.Values) (string, error) {
	epoch := q.Get("epoch")
	if len(epoch) > MaxEpochLen {
		return "", &broker.ValidationError{Field: "epoch", Reason: fmt.Sprintf("longer than %d bytes", MaxEpochLen)}
	}
	return epoch, nil
}

// QueryValue returns the first value of key in the raw query rawQuery, as
// url.ParseQuery(rawQuery).Get(key) does (pairs with a semicolon or a bad
// escape are skipped), without building the map: a handshake or a poll
// reads two or three parameters and keeps none of them.
func QueryValue(rawQuery, key string) string {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if k != key {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			if uk, err := url.QueryUnescape(k); err != nil || uk != key {
				continue
			}
		}
		if !strings.ContainsAny(v, "%+") {
			return v
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			return uv
		}
	}
	return ""
}
