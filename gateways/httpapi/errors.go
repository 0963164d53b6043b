package httpapi

import (
	"fmt"
	"log/slog"
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

// WriteError answers r with err in the one wire form every gateway uses
// (see wire.Classify), for the operator routes cmd/rtbroker serves itself
// (export, import): unknown errors are logged to log with their detail and
// answered 500 internal.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	httpx.WriteError(w, r, log, err)
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

// AdminOnly guards next, an operator endpoint (the backup): once any
// credential is configured (auth.Authenticator.Configured), only requests
// carrying an admin API key (auth.Identity.Admin: an unscoped key, or a
// scoped one configured as admin) reach it; others get 401 or 403.
// Without credentials (the open demo setup) every request does.
func (h *Handler) AdminOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
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
