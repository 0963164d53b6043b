package main

import (
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/rtbroker/rtbroker/gateways/httpapi"
)

// hostGuard refuses requests whose Host header names a host the server
// does not answer to: the defence against DNS rebinding, where a page of
// evil.example re-resolves its own name to 127.0.0.1 and then reaches a
// broker on localhost as a "same-origin" page (the same-host Origin check
// trusts Host). Like the dev servers that guard against it, it lets in IP
// literals (a rebinding page cannot name one), localhost and *.localhost,
// and the names listed; anything else is answered 403 forbidden.
type hostGuard struct {
	names map[string]bool // lower case, without port
}

// newHostGuard returns the guard for --allowed-hosts, or nil (no check)
// when the list is empty and the server is not both anonymous and on a
// loopback address: a broker that requires credentials does not rely on
// the Host header, and one on a public address is reached by names the
// operator cannot all list. With "*" in the list there is no check.
func newHostGuard(allowed []string, anonymous bool, listen net.Addr) *hostGuard {
	if len(allowed) == 0 && !(anonymous && isLoopback(listen)) {
		return nil
	}
	g := &hostGuard{names: map[string]bool{}}
	for _, h := range allowed {
		if h == "*" {
			return nil
		}
		g.names[strings.ToLower(strings.TrimSuffix(h, "."))] = true
	}
	return g
}

// isLoopback reports whether a listens on a loopback address only.
func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// allowed reports whether host (a Host header, with or without port) may
// be served.
func (g *hostGuard) allowed(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	switch {
	case host == "":
		return false
	case net.ParseIP(host) != nil, host == "localhost", strings.HasSuffix(host, ".localhost"):
		return true
	}
	return g.names[host]
}

// middleware refuses requests for other hosts with 403 forbidden.
func (g *hostGuard) middleware(next http.Handler) http.Handler {
	if g == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.allowed(r.Host) {
			w.Header().Set("Connection", "close")
			_ = http.NewResponseController(w).SetReadDeadline(time.Now()) // a body is not waited for
			httpapi.WriteErrorBody(w, http.StatusForbidden, "forbidden", "host not allowed: add it to --allowed-hosts")
			return
		}
		next.ServeHTTP(w, r)
	})
}
