package httpapi

import (
	"fmt"
	"io"
	"net/http"

	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/internal/httpx"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
)

// writeError answers with err in the one wire form every gateway uses
// (see wire.Classify): {"error":{"code","message"}} and its status.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	httpx.WriteError(w, r, h.log, err)
}

func badRequest(msg string) error { return wire.BadRequest(msg) }

// WriteErrorBody writes {"error":{"code":code,"message":msg}} with status,
// for router-level errors in cmd/rtbroker, so every error has one shape.
func WriteErrorBody(w http.ResponseWriter, status int, code, msg string) {
	httpx.WriteErrorBody(w, status, code, msg)
}

// NotFound answers unknown routes in the JSON error shape.
func NotFound(w http.ResponseWriter, r *http.Request) {
	httpx.CloseUnread(w, r)
	httpx.WriteErrorBody(w, http.StatusNotFound, wire.CodeNotFound, "no route for "+r.Method+" "+r.URL.Path)
}

// MethodNotAllowed answers a known route with the wrong method.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	httpx.CloseUnread(w, r)
	httpx.WriteErrorBody(w, http.StatusMethodNotAllowed, wire.CodeMethod, "method "+r.Method+" not allowed on "+r.URL.Path)
}

// AdminOnly guards next, an operator endpoint (the admin API, the
// backup): once any credential is configured
// (auth.Authenticator.Configured), only requests carrying an admin
// credential (auth.Identity.Admin: an unscoped API key, a scoped one
// configured as admin, or a token with the admin role) reach it; others
// get 401 or 403.
// Without credentials (the open demo setup) every request does. A request
// that changes something (not GET or HEAD) carrying its credential in the
// cookie must come from the same site or an allowed origin (403
// otherwise), as every cookie-authenticated write must.
func (h *Handler) AdminOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := h.origins.CheckSite(r); err != nil {
				h.writeError(w, r, err)
				return
			}
		}
		if h.cfg.Auth.Configured() {
			id, err := httpx.Identify(h.cfg.Auth, r)
			if err == nil && !id.Admin {
				err = fmt.Errorf("%w: this endpoint needs an admin API key", auth.ErrForbidden)
			}
			if err != nil {
				h.writeError(w, r, err)
				return
			}
		}
		next(w, r)
	}
}

// WriteError answers r with err in the one wire form every gateway uses
// (see wire.Classify), for operator handlers in cmd/rtbroker (the admin
// API): unknown errors are logged with detail and sent as "internal".
func (h *Handler) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	h.writeError(w, r, err)
}

// BadRequest is a 400 invalid_argument error carrying msg, for handlers
// outside the package.
func BadRequest(msg string) error { return wire.BadRequest(msg) }

// NotFoundError is a 404 not_found error carrying msg, for handlers
// outside the package (an unknown connection of the admin API).
func NotFoundError(msg string) error {
	return &wire.Error{Status: http.StatusNotFound, Code: wire.CodeNotFound, Message: msg}
}

// DecodeBody reads r's JSON body, at most max bytes, into v, refusing
// unknown fields and trailing data. Its errors are wire errors (400, 413,
// 408) for WriteError.
func DecodeBody(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		return err
	}
	return decodeStrict(body, v)
}
