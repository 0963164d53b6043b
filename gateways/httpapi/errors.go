package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/rtbroker/rtbroker/broker"
)

// Error codes on the wire.
const (
	codeInvalid     = "invalid_argument"
	codeTooLarge    = "too_large"
	codeUnavailable = "unavailable"
	codeInternal    = "internal"
	codeNotFound    = "not_found"
	codeMethod      = "method_not_allowed"
	codeMediaType   = "unsupported_media_type"
	codeIdempotency = "idempotency_conflict"
	codeCanceled    = "canceled"
)

// statusClientClosed is the de facto status (nginx's 499) for a request
// whose client went away; it is only ever seen in access logs.
const statusClientClosed = 499

// wireError is an error with its wire form decided.
type wireError struct {
	status  int
	code    string
	message string
}

func (e *wireError) Error() string { return e.message }

func badRequest(msg string) error { return &wireError{http.StatusBadRequest, codeInvalid, msg} }

// toWire is the one table from errors to HTTP status, code and message.
// Unknown errors are logged and sent as "internal error".
func toWire(log *slog.Logger, err error) (int, string, string) {
	var we *wireError
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &we):
		return we.status, we.code, we.message
	case errors.As(err, &maxErr):
		return http.StatusRequestEntityTooLarge, codeTooLarge, "request body larger than " + itoa(maxErr.Limit) + " bytes"
	case errors.Is(err, broker.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, codeTooLarge, err.Error()
	case errors.Is(err, broker.ErrInvalid):
		return http.StatusBadRequest, codeInvalid, err.Error()
	case errors.Is(err, broker.ErrClosed):
		return http.StatusServiceUnavailable, codeUnavailable, "server is shutting down"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The client went away (or gave up) before the answer: nothing to
		// log. A publish may still have been committed; a retry with the
		// same Idempotency-Key tells.
		return statusClientClosed, codeCanceled, "request canceled"
	}
	log.Error("request failed", "err", err)
	return http.StatusInternalServerError, codeInternal, "internal error"
}

// WriteError writes err as {"error":{"code","message"}} with its status.
func (h *Handler) writeError(w http.ResponseWriter, err error) {
	status, code, msg := toWire(h.log, err)
	WriteErrorBody(w, status, code, msg)
}

// WriteErrorBody writes {"error":{"code":code,"message":msg}} with status.
// cmd/rtbroker uses it for router-level errors (404, 405) so every error
// body has one shape.
func WriteErrorBody(w http.ResponseWriter, status int, code, msg string) {
	b := make([]byte, 0, 64+len(msg))
	b = append(b, `{"error":{"code":`...)
	b = broker.AppendJSONString(b, code)
	b = append(b, `,"message":`...)
	b = broker.AppendJSONString(b, msg)
	b = append(b, "}}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b)
}

// NotFound and MethodNotAllowed answer unknown routes in the JSON error shape.
func NotFound(w http.ResponseWriter, r *http.Request) {
	WriteErrorBody(w, http.StatusNotFound, codeNotFound, "no route for "+r.Method+" "+r.URL.Path)
}

// MethodNotAllowed answers a known route with the wrong method.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	WriteErrorBody(w, http.StatusMethodNotAllowed, codeMethod, "method "+r.Method+" not allowed on "+r.URL.Path)
}
