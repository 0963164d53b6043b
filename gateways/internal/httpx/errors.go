package httpx

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
)

// Wire error codes.
const (
	CodeInvalid     = "invalid_argument"
	CodeTooLarge    = "too_large"
	CodeUnavailable = "unavailable"
	CodeInternal    = "internal"
	CodeNotFound    = "not_found"
	CodeMethod      = "method_not_allowed"
	CodeMediaType   = "unsupported_media_type"
	CodeIdempotency = "idempotency_conflict"
	CodeCanceled    = "canceled"
	CodeUnauth      = "unauthorized"
	CodeForbidden   = "forbidden"
	CodeRateLimited = "rate_limited"
	CodeTimeout     = "timeout"
)

// StatusClientClosed is the de facto status (nginx's 499) for a request
// whose client went away; only access logs ever see it.
const StatusClientClosed = 499

// Error is an error whose wire form is decided where it is made.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// BadRequest is a 400 invalid_argument with msg.
func BadRequest(msg string) error { return &Error{http.StatusBadRequest, CodeInvalid, msg} }

// ErrMethod answers a request with a method the route does not serve.
var ErrMethod = &Error{http.StatusMethodNotAllowed, CodeMethod, "method not allowed"}

// RateLimited refuses a request over a rate limit: 429 rate_limited, with
// Retry-After from Wait (at least one second). Message is sent as the
// error's message; empty means "rate limit exceeded, retry later".
type RateLimited struct {
	Wait    time.Duration
	Message string
}

func (e *RateLimited) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return "rate limit exceeded, retry later"
}

// Wire is the one table from errors to their HTTP status, code and the
// message sent to the client. Only errors the client caused carry their
// own text; anything unknown is "internal error" (log it: see WriteError).
func Wire(err error) (status int, code, message string) {
	var we *Error
	var maxErr *http.MaxBytesError
	var rl *RateLimited
	var be *BodyError
	switch {
	case errors.Is(err, ErrBodyTimeout):
		return http.StatusRequestTimeout, CodeTimeout, ErrBodyTimeout.Error()
	case errors.As(err, &be), errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadRequest, CodeInvalid, "request body could not be read"
	case errors.As(err, &rl):
		return http.StatusTooManyRequests, CodeRateLimited, rl.Error()
	case errors.As(err, &we):
		return we.Status, we.Code, we.Message
	case errors.As(err, &maxErr):
		return http.StatusRequestEntityTooLarge, CodeTooLarge, "request body larger than " + strconv.FormatInt(maxErr.Limit, 10) + " bytes"
	case errors.Is(err, auth.ErrUnauthorized):
		return http.StatusUnauthorized, CodeUnauth, err.Error()
	case errors.Is(err, auth.ErrForbidden):
		return http.StatusForbidden, CodeForbidden, err.Error()
	case errors.Is(err, broker.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, CodeTooLarge, err.Error()
	case errors.Is(err, broker.ErrInvalid):
		return http.StatusBadRequest, CodeInvalid, err.Error()
	case errors.Is(err, broker.ErrClosed):
		return http.StatusServiceUnavailable, CodeUnavailable, "server is shutting down, retry"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The client went away or gave up. A publish may still have been
		// committed; a retry with the same Idempotency-Key tells.
		return StatusClientClosed, CodeCanceled, "request canceled"
	}
	return http.StatusInternalServerError, CodeInternal, "internal error"
}

// WriteError answers r with err as {"error":{"code","message"}} and its
// status (see Wire). Unknown errors are logged with their detail, which is
// never sent; when the client is gone nothing is written or logged. A
// request whose body is late, failed or was not read is answered with
// Connection: close, so that the answer is not held back waiting for the
// rest of the body.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, code, msg := Wire(err)
	if status == http.StatusRequestTimeout {
		w.Header().Set("Connection", "close")
	}
	CloseUnread(w, r)
	switch status {
	case StatusClientClosed:
		if r.Context().Err() != nil {
			return
		}
	case http.StatusInternalServerError:
		log.ErrorContext(r.Context(), "request failed", "err", err, "method", r.Method, "path", r.URL.Path)
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", http.MethodGet)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="rtbroker"`)
	case http.StatusTooManyRequests:
		var rl *RateLimited
		if errors.As(err, &rl) {
			w.Header().Set("Retry-After", strconv.FormatInt(max(1, int64(math.Ceil(rl.Wait.Seconds()))), 10))
		}
	}
	WriteErrorBody(w, status, code, msg)
}

// WriteErrorBody writes {"error":{"code":code,"message":msg}} with status.
func WriteErrorBody(w http.ResponseWriter, status int, code, msg string) {
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
	w.WriteHeader(status)
	w.Write(b)
}
