package jetstream

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtbroker/rtbroker/broker"
)

// TestUnavailable: the errors that mean "JetStream cannot answer now" are
// wrapped with broker.ErrUnavailable (gateways answer 503), keeping the
// original; others are left alone.
func TestUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{name: "no responders", err: nats.ErrNoResponders, want: true},
		{name: "no stream response", err: fmt.Errorf("publish: %w", jetstream.ErrNoStreamResponse), want: true},
		{name: "ack timeout", err: jetstream.ErrAsyncPublishTimeout, want: true},
		{name: "deadline", err: context.DeadlineExceeded, want: true},
		{name: "connection closed", err: nats.ErrConnectionClosed, want: true},
		{name: "reconnecting", err: nats.ErrConnectionReconnecting, want: true},
		{name: "API 503", err: &jetstream.APIError{Code: 503, Description: "JetStream system temporarily unavailable"}, want: true},
		{name: "API 400", err: &jetstream.APIError{Code: 400, Description: "bad request"}},
		{name: "other", err: errors.New("boom")},
		{name: "invalid", err: broker.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := unavailable(tc.err)
			if errors.Is(got, broker.ErrUnavailable) != tc.want || !errors.Is(got, tc.err) {
				t.Errorf("unavailable(%v) = %v; want ErrUnavailable %v, wrapping the original", tc.err, got, tc.want)
			}
		})
	}
	if unavailable(nil) != nil {
		t.Error("unavailable(nil) != nil")
	}
}
