package httpx

import (
	"net/http"
	"strings"

	"github.com/rtbroker/rtbroker/gateways/auth"
)

// TokenCookie is the cookie a browser may carry its token in.
const TokenCookie = "rtbroker_token"

// Source says where a request carried its credential.
type Source uint8

// Sources, in the order Credential looks.
const (
	FromNone   Source = iota // no credential
	FromHeader               // Authorization: Bearer … or X-API-Key: set by the caller's code
	FromCookie               // the rtbroker_token cookie: sent by the browser on its own
	FromQuery                // ?token=: part of the URL, which logs and Referer headers may keep
)

// Credential returns the credential (a token or an API key) a request
// carries and where it was found, looked for in this order:
// `Authorization: Bearer …`, `X-API-Key`, the rtbroker_token cookie, and
// the `token` query parameter (EventSource cannot set headers). It returns
// "", FromNone when there is none. rawQuery is the request's raw query
// (URL.RawQuery). The value is secret: never log it.
func Credential(h http.Header, rawQuery string) (string, Source) {
	if v := h.Get("Authorization"); v != "" {
		if scheme, tok, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok), FromHeader
		}
		// Another scheme: the request has a credential we cannot use; do
		// not fall back to anonymous.
		return v, FromHeader
	}
	if v := h.Get("X-Api-Key"); v != "" { // X-API-Key, written canonical: Get does not copy it to canonicalize
		return v, FromHeader
	}
	if v := cookie(h, TokenCookie); v != "" {
		return v, FromCookie
	}
	if v := QueryValue(rawQuery, "token"); v != "" {
		return v, FromQuery
	}
	return "", FromNone
}

// cookie returns the value of the named cookie in h, or "".
func cookie(h http.Header, name string) string {
	if len(h["Cookie"]) == 0 {
		return "" // the common case, without the parse's allocations
	}
	r := http.Request{Header: h}
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// AuthenticateFrom authenticates a credential found at src: API keys are
// accepted only from headers; a cookie or query credential must be a
// signed token (an API key there is refused as a bad token). Errors wrap
// auth.ErrUnauthorized.
func AuthenticateFrom(a *auth.Authenticator, cred string, src Source) (auth.Identity, error) {
	if src == FromCookie || src == FromQuery {
		return a.AuthenticateToken(cred)
	}
	return a.Authenticate(cred)
}

// Identify authenticates the request's credential with a (see
// AuthenticateFrom). Errors wrap auth.ErrUnauthorized (401 on the wire).
func Identify(a *auth.Authenticator, r *http.Request) (auth.Identity, error) {
	cred, src := Credential(r.Header, r.URL.RawQuery)
	return AuthenticateFrom(a, cred, src)
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
