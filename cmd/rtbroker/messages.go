package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/messages"
)

// startUnavailableWait is how long the start waits for a store that
// answers unavailable before it gives up.
const startUnavailableWait = 30 * time.Second

// newMessages returns the one edit-and-delete service every gateway
// shares, with the policy's moderator role, after making sure its
// projection (the folded view's state records) is built from the log:
// always with --rebuild-messages, otherwise only when it never was (a data
// file from before the feature, or one whose records were lost). It runs
// before the server listens, so no change is made meanwhile. A store that
// answers unavailable (a cluster's bucket without a leader yet) is asked
// again for up to startUnavailableWait.
func newMessages(ctx context.Context, cfg *config, b *broker.Broker, log *slog.Logger) (*messages.Service, error) {
	pol, err := cfg.loadPolicy()
	if err != nil {
		return nil, err
	}
	svc := messages.New(b, messages.Config{ModeratorRole: pol.ModeratorRole, MaxScan: cfg.MessagesMaxScan})
	n, err := svc.EnsureBuilt(ctx, cfg.RebuildMessages)
	// A cluster node that starts beside others may find the state
	// bucket without a leader for a moment: wait for it, a while.
	for wait := time.Now().Add(startUnavailableWait); errors.Is(err, broker.ErrUnavailable) && time.Now().Before(wait); {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		n, err = svc.EnsureBuilt(ctx, cfg.RebuildMessages)
	}
	if ce := (*broker.CorruptionError)(nil); errors.As(err, &ce) {
		// Serve what is readable: /healthz names the damage, and the
		// view is built at the next start (after rtbroker recover).
		log.Warn("the folded message view could not be built from the damaged log", "err", err)
		return svc, nil
	}
	if err != nil {
		return nil, fmt.Errorf("build the folded message view: %w", err)
	}
	if n > 0 || cfg.RebuildMessages {
		log.Info("rebuilt the folded message view from the log", "changed_messages", n)
	}
	return svc, nil
}
