package limit

import (
	"log/slog"
	"net/http"

	"github.com/rtbroker/rtbroker/gateways/internal/httpx"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
)

// Connects returns middleware that caps how often one client IP address
// opens connections (SSE streams, long-polls, Engine.IO handshakes): each
// request for which opens reports true (every request when opens is nil)
// takes a token from its IP's bucket in b, before anything else is done
// for it. A request without a token is answered 429 rate_limited with
// Retry-After (the wait until the bucket has a token again) and next is
// not called. With a nil b the middleware is next itself.
func Connects(b *Buckets, opens func(*http.Request) bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if b == nil {
			return next
		}
		quiet := slog.New(slog.DiscardHandler) // a refusal is not logged
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if opens == nil || opens(r) {
				if ok, wait := b.Allow("ip:" + requestIP(r)); !ok {
					httpx.WriteError(w, r, quiet, &wire.RateLimited{Wait: wait, Message: "too many connections opened from this address, retry later"})
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}
