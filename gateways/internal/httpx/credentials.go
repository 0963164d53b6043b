package httpx

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/rtbroker/rtbroker/gateways/auth"
)

// TokenCookie is the cookie a browser may carry its token in.
const TokenCookie = "rtbroker_token"

// Credential returns the credential (a token or an API key) a request
// carries, looked for in this order: `Authorization: Bearer …`,
// `X-API-Key`, the rtbroker_token cookie, and the `token` query parameter
// (EventSource cannot set headers). It returns "" when there is none. The
// value is secret: never log it.
func Credential(h http.Header, q url.Values) string {
	if v := h.Get("Authorization"); v != "" {
		if scheme, tok, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		// Another scheme: the request has a credential we cannot use; do
		// not fall back to anonymous.
		return v
	}
	if v := h.Get("X-API-Key"); v != "" {
		return v
	}
	if v := cookie(h, TokenCookie); v != "" {
		return v
	}
	return q.Get("token")
}

// cookie returns the value of the named cookie in h, or "".
func cookie(h http.Header, name string) string {
	r := http.Request{Header: h}
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// Identify authenticates the request's credential with a. Errors wrap
// auth.ErrUnauthorized (401 on the wire).
func Identify(a *auth.Authenticator, r *http.Request) (auth.Identity, error) {
	return a.Authenticate(Credential(r.Header, r.URL.Query()))
}

// Authorize authenticates r and checks that the identity may do action in
// every room. Errors wrap auth.ErrUnauthorized or auth.ErrForbidden.
func Authorize(a *auth.Authenticator, r *http.Request, action auth.Action, rooms ...string) (auth.Identity, error) {
	id, err := Identify(a, r)
	if err != nil {
		return id, err
	}
	for _, room := range rooms {
		if err := id.Check(action, room); err != nil {
			return id, err
		}
	}
	return id, nil
}
