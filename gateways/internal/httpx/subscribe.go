package httpx

import (
	"log/slog"
	"net/http"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
)

// Begin starts a GET request of a streaming gateway: it answers other
// methods with 405 and, once t is closing, answers with closedErr. It
// returns false when it has answered; otherwise the caller must call
// t.End when the request ends.
func Begin(w http.ResponseWriter, r *http.Request, t *Tracker, log *slog.Logger, closedErr error) bool {
	if r.Method != http.MethodGet {
		WriteError(w, r, log, ErrMethod)
		return false
	}
	if !t.Begin() {
		WriteError(w, r, log, closedErr)
		return false
	}
	return true
}

// Subscribe authorizes r to subscribe to rooms and opens the subscription
// from `from`, or from the current head when live is true. Errors wrap
// auth.ErrUnauthorized, auth.ErrForbidden or the broker's errors; the
// caller answers them with WriteError before anything else is written.
func Subscribe(b *broker.Broker, a *auth.Authenticator, r *http.Request, rooms []string, from broker.Position, live bool) (*broker.Subscription, auth.Identity, error) {
	id, err := Authorize(a, r, auth.Subscribe, rooms...)
	if err != nil {
		return nil, id, err
	}
	if live {
		from = b.Head()
	}
	sub, err := b.Subscribe(r.Context(), rooms, from)
	return sub, id, err
}
