package wire

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
)

// StatusClientClosed is the de facto status (nginx's 499) for a request
// whose client went away; only access logs ever see it.
const StatusClientClosed = 499

// Error is an error whose wire form is decided where it is made.
type Error struct {
	Status  int    // HTTP status
	Code    string // one of the Code constants
	Message string // sent to the client as is
}

// Error returns Message.
func (e *Error) Error() string { return e.Message }

// BadRequest is a 400 invalid_argument with msg.
func BadRequest(msg string) error { return &Error{http.StatusBadRequest, CodeInvalid, msg} }

// RateLimited refuses a request over a rate limit: 429 rate_limited
// (over HTTP with Retry-After from Wait, at least one second). Message is
// sent as the error's message; empty means "rate limit exceeded, retry
// later".
type RateLimited struct {
	Wait    time.Duration
	Message string
}

// Error returns Message or its default.
func (e *RateLimited) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return "rate limit exceeded, retry later"
}

// ErrBodyTimeout is the error of a request body that did not arrive
// within its read deadline (httpx.BodyDeadline): 408 timeout. It reports
// Timeout() true, so that a handler that does not know this package (the
// Engine.IO server) can tell it apart.
var ErrBodyTimeout error = &timeoutError{}

type timeoutError struct{}

func (*timeoutError) Error() string   { return "request body not received in time" }
func (*timeoutError) Timeout() bool   { return true }
func (*timeoutError) Temporary() bool { return false }

// BodyError is a request body that could not be read because of the
// client (it closed the connection, sent a broken chunk): a client-side
// failure, answered 400 and never logged above debug.
type BodyError struct{ Err error }

// Error names the read error.
func (e *BodyError) Error() string { return "request body: " + e.Err.Error() }

// Unwrap returns Err.
func (e *BodyError) Unwrap() error { return e.Err }

// Classify is the one table from errors to their wire form: the HTTP
// status, the code and the message sent to the client (Socket.IO sends
// the code and message, and ignores the status). Only errors the client
// caused carry their own text; anything unknown is 500 internal,
// "internal error" — log it, its detail is never sent.
func Classify(err error) (status int, code, message string) {
	var we *Error
	var maxErr *http.MaxBytesError
	var rl *RateLimited
	var be *BodyError
	var ce *broker.CorruptionError
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
	case errors.Is(err, broker.ErrConflict):
		return http.StatusConflict, CodeConflict, err.Error()
	case errors.Is(err, broker.ErrInsufficientStorage):
		return http.StatusInsufficientStorage, CodeInsufficientStorage, "the server's storage is full or read-only: nothing was written, retry later"
	case errors.As(err, &ce):
		return http.StatusInternalServerError, CodeDataCorrupted, ce.Error()
	case errors.Is(err, broker.ErrUnavailable):
		return http.StatusServiceUnavailable, CodeUnavailable, "the cluster cannot commit events now (no quorum or no connection to NATS); retry with the same Idempotency-Key"
	case errors.Is(err, broker.ErrClosed):
		return http.StatusServiceUnavailable, CodeUnavailable, "server is shutting down, retry"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The client went away or gave up. A publish may still have been
		// committed; a retry with the same Idempotency-Key tells.
		return StatusClientClosed, CodeCanceled, "request canceled"
	}
	return http.StatusInternalServerError, CodeInternal, "internal error"
}
