package longpoll

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/rtbroker/rtbroker/broker"
)

// errMethod is returned for a request method other than GET.
var errMethod = errors.New("method not allowed")

// wireError is the one table from an error to its HTTP form: status, code
// and the message sent to the client. Only errors the client caused carry
// their own text; anything unknown is "internal error" on the wire.
func wireError(err error) (status int, code, message string) {
	switch {
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed, "method_not_allowed", "use GET"
	case errors.Is(err, broker.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large", err.Error()
	case errors.Is(err, broker.ErrInvalid):
		return http.StatusBadRequest, "invalid_argument", err.Error()
	case errors.Is(err, broker.ErrClosed):
		return http.StatusServiceUnavailable, "unavailable", "server is shutting down, retry"
	default:
		return http.StatusInternalServerError, "internal", "internal error"
	}
}

// writeError sends err as a JSON error response, before any stream byte.
// Unknown errors are logged with their detail, which is never sent. When
// the client is gone (r's context ended) nothing is sent or logged.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if r.Context().Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return
	}
	status, code, msg := wireError(err)
	if status == http.StatusInternalServerError {
		log.ErrorContext(r.Context(), "long-poll request failed", "err", err, "url", r.URL.String())
	}
	b := make([]byte, 0, 64+len(msg))
	b = append(b, `{"error":{"code":`...)
	b = broker.AppendJSONString(b, code)
	b = append(b, `,"message":`...)
	b = broker.AppendJSONString(b, msg)
	b = append(b, "}}\n"...)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if status == http.StatusMethodNotAllowed {
		h.Set("Allow", http.MethodGet)
	}
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	w.Write(b) //nolint:errcheck // the client may be gone; nothing to do
}
