package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtbroker/rtbroker/broker"
)

// unavailable wraps err with broker.ErrUnavailable when it says that
// JetStream cannot answer now: nobody serves the stream (it has no
// leader: its cluster lost quorum), a wait for an answer timed out, or
// the connection to NATS is down. Other errors are returned as they are.
func unavailable(err error) error {
	if err == nil || errors.Is(err, broker.ErrUnavailable) {
		return err
	}
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, jetstream.ErrAsyncPublishTimeout), errors.Is(err, jetstream.ErrTooManyStalledMsgs),
		errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, jetstream.ErrJetStreamNotEnabled):
	case errors.As(err, &apiErr) && apiErr.Code == 503:
	default:
		return err
	}
	return fmt.Errorf("%w: %w", broker.ErrUnavailable, err)
}

// Available reports whether the stream can commit now: nil when it has
// a leader that answered within timeout, otherwise an error wrapping
// broker.ErrUnavailable that says why (no leader: the cluster lost
// quorum; no answer; no connection). It sends one stream info request.
// Until the next call, LastOffset fails at once with that error (reads
// then go on with what this node has) instead of waiting for the leader.
func (l *Log) Available(ctx context.Context, timeout time.Duration) error {
	err := l.available(ctx, timeout)
	if err != nil && ctx.Err() == nil {
		l.down.Store(&err)
	} else {
		l.down.Store(nil)
	}
	return err
}

func (l *Log) available(ctx context.Context, timeout time.Duration) error {
	if l.nc.Status() != nats.CONNECTED {
		return fmt.Errorf("%w: not connected to NATS (%s)", broker.ErrUnavailable, l.nc.Status())
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	info, err := l.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: no answer from its leader within %s (its NATS cluster may have lost quorum): %w", l.cfg.Stream, timeout, unavailable(err))
	}
	if info.Cluster != nil && info.Cluster.Leader == "" {
		return fmt.Errorf("%w: stream %s has no leader (its NATS cluster lost quorum)", broker.ErrUnavailable, l.cfg.Stream)
	}
	return nil
}
