package httpx

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/rtbroker/rtbroker/gateways/internal/wire"
)

// CORS preflight answers: what a browser may send cross-site.
const (
	corsMethods = "GET, POST, PATCH, DELETE"
	corsHeaders = "Authorization, Content-Type, Idempotency-Key, X-API-Key, Last-Event-ID"
	corsMaxAge  = "600"
)

// ErrCrossSite refuses a cookie-authenticated state-changing request sent
// from another site (CSRF).
var ErrCrossSite = &wire.Error{Status: http.StatusForbidden, Code: wire.CodeForbidden, Message: "cross-site request"}

// Origins is the list of origins allowed to call the HTTP gateways from
// another site (--allowed-origins). It is immutable after NewOrigins and
// safe for concurrent use. The zero value (and nil) allows none.
type Origins struct {
	any   bool            // "*" was listed: every origin but "null"
	exact map[string]bool // listed origins, "scheme://host[:port]", lower case
}

// NewOrigins returns the allow-list of exact origins
// ("https://app.example.com"); the entry "*" allows every origin except
// the opaque "null" (sandboxed frames, file: pages), which is never
// allowed since any page can make itself one.
func NewOrigins(list []string) *Origins {
	o := &Origins{exact: make(map[string]bool, len(list))}
	for _, v := range list {
		if v == "*" {
			o.any = true
			continue
		}
		o.exact[strings.ToLower(strings.TrimRight(v, "/"))] = true
	}
	return o
}

// Empty reports whether no origin is allowed cross-site.
func (o *Origins) Empty() bool { return o == nil || (!o.any && len(o.exact) == 0) }

// Allowed reports whether origin (an Origin header's value) is in the list.
func (o *Origins) Allowed(origin string) bool {
	if o == nil || origin == "" || origin == "null" {
		return false
	}
	return o.any || o.exact[strings.ToLower(origin)]
}

// CORS returns middleware that answers cross-site requests from allowed
// origins. With an empty list it sends no CORS header and answers no
// preflight (next sees everything). Otherwise every response carries
// Vary: Origin; a request from an allowed origin gets the origin echoed
// (never "*", since credentials are allowed) with
// Access-Control-Allow-Credentials: true; a preflight (OPTIONS with
// Access-Control-Request-Method) is answered here: 204 with the allowed
// methods and headers for an allowed origin, 403 forbidden for another.
// A simple request from another origin reaches next without CORS headers:
// the browser then hides the response from the page.
func (o *Origins) CORS(next http.Handler) http.Handler {
	if o.Empty() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		allowed := o.Allowed(origin)
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		if r.Method != http.MethodOptions || origin == "" || r.Header.Get("Access-Control-Request-Method") == "" {
			next.ServeHTTP(w, r)
			return
		}
		if !allowed {
			WriteErrorBody(w, http.StatusForbidden, wire.CodeForbidden, "origin not allowed")
			return
		}
		h.Set("Access-Control-Allow-Methods", corsMethods)
		h.Set("Access-Control-Allow-Headers", corsHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
		w.WriteHeader(http.StatusNoContent)
	})
}

// CheckSite guards a state-changing request against cross-site request
// forgery. Only a request whose credential is the rtbroker_token cookie
// (which the browser attaches by itself) is checked: it must come from
// the same origin (the Origin's host is the request's Host) or from an
// allowed origin. The Origin header is used, else the Referer's origin; a
// request with neither is not from a browser page and passes. It returns
// ErrCrossSite (403 forbidden) when refused.
func (o *Origins) CheckSite(r *http.Request) error {
	if _, src := Credential(r.Header, ""); src != FromCookie {
		return nil
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		ref := r.Header.Get("Referer")
		if ref == "" {
			return nil
		}
		u, err := url.Parse(ref)
		if err != nil || u.Host == "" {
			return ErrCrossSite
		}
		origin = u.Scheme + "://" + u.Host
	}
	if sameHost(origin, r.Host) || o.Allowed(origin) {
		return nil
	}
	return ErrCrossSite
}

// SameSiteOrAllowed reports whether a request to host from origin (its
// Origin header) is not cross-site: it has no Origin (it is not from a
// browser page), comes from the same host[:port], or from an allowed
// origin. It is the Origin check of WebSocket upgrades, which CORS does
// not cover: without it any page could open a WebSocket that carries the
// user's cookie (cross-site WebSocket hijacking).
func (o *Origins) SameSiteOrAllowed(origin, host string) bool {
	return origin == "" || sameHost(origin, host) || o.Allowed(origin)
}

// sameHost reports whether origin's host[:port] is host.
func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}
