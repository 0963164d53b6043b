package httpx

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/rtbroker/rtbroker/gateways/internal/wire"
)

// ErrMethod answers a request with a method the route does not serve.
var ErrMethod = &wire.Error{Status: http.StatusMethodNotAllowed, Code: wire.CodeMethod, Message: "method not allowed"}

// WriteError answers r with err as {"error":{"code","message"}} and its
// status (see wire.Classify), with the headers its status calls for
// (Allow, Retry-After, WWW-Authenticate). Unknown errors are logged with
// their detail, which is never sent (data_corrupted is not: the
// storage logs it once); when the client is gone nothing is
// written or logged. A request whose body is late, failed or was not read
// is answered with Connection: close, so that the answer is not held back
// waiting for the rest of the body.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, code, msg := wire.Classify(err)
	if status == http.StatusRequestTimeout {
		w.Header().Set("Connection", "close")
	}
	CloseUnread(w, r)
	switch status {
	case wire.StatusClientClosed:
		if r.Context().Err() != nil {
			return
		}
	case http.StatusInternalServerError:
		if code == wire.CodeDataCorrupted {
			break // the storage logged it once at ERROR
		}
		log.ErrorContext(r.Context(), "request failed", "err", err, "method", r.Method, "path", r.URL.Path)
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", http.MethodGet)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="rtbroker"`)
	case http.StatusTooManyRequests:
		var rl *wire.RateLimited
		if errors.As(err, &rl) {
			w.Header().Set("Retry-After", strconv.FormatInt(max(1, int64(math.Ceil(rl.Wait.Seconds()))), 10))
		}
	}
	WriteErrorBody(w, status, code, msg)
}

// WriteErrorBody writes {"error":{"code":code,"message":msg}} (a
// wire.ErrorBody) with status.
func WriteErrorBody(w http.ResponseWriter, status int, code, msg string) {
	e := wire.ErrorBody{Code: code, Message: msg}
	b := make([]byte, 0, 64+len(msg))
	b = append(b, `{"error":`...)
	b = e.AppendJSON(b)
	b = append(b, "}\n"...)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b)
}
