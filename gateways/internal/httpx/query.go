package httpx

import (
	"fmt"
	"net/url"
	"slices"

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
