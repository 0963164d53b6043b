package main

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwarded bounds the X-Forwarded-For entries read from the right: a
// longer chain of trusted proxies is not believed.
const maxForwarded = 32

// trustedProxies gives a request that came through a trusted proxy its
// client's address: RemoteAddr becomes the rightmost address of
// X-Forwarded-For that is not itself a trusted proxy (the address the
// outermost trusted proxy saw). Everything downstream that is keyed by the
// client's IP (connect and publish rates, the connection registry,
// presence) then sees the client, not the balancer. A request from any
// other peer keeps its own address: its header is not believed. The
// per-address connection cap (--max-conns-per-ip) counts TCP connections
// before any header is read, so it still counts the proxy's.
type trustedProxies struct {
	nets []netip.Prefix
}

// newTrustedProxies parses --trusted-proxies: addresses or CIDR prefixes.
// Nil (no rewrite) when the list is empty.
func newTrustedProxies(list []string) (*trustedProxies, error) {
	if len(list) == 0 {
		return nil, nil
	}
	t := &trustedProxies{}
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			t.nets = append(t.nets, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxies: %q is neither an IP address nor a CIDR prefix", s)
		}
		t.nets = append(t.nets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return t, nil
}

func (t *trustedProxies) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t.nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr returns the client's address for a request from remote
// ("IP:port") with the X-Forwarded-For field values xff, and whether it
// differs from remote's. It keeps remote when the peer is not trusted,
// the field is absent, an entry it reads is not an address, or the chain
// is longer than maxForwarded; when every entry is a trusted proxy it
// takes the leftmost.
func (t *trustedProxies) clientAddr(remote string, xff []string) (string, bool) {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote, false
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !t.trusted(peer) || len(xff) == 0 {
		return remote, false
	}
	// Read from the right, at most maxForwarded entries, without
	// splitting what lies beyond them.
	var client netip.Addr
	n := 0
	for i := len(xff) - 1; i >= 0; i-- {
		v := xff[i]
		for {
			if n == maxForwarded {
				return remote, false
			}
			n++
			j := strings.LastIndexByte(v, ',')
			a, ok := forwardedAddr(strings.TrimSpace(v[j+1:]))
			if !ok {
				return remote, false
			}
			client = a
			if !t.trusted(a) {
				return netip.AddrPortFrom(client, 0).String(), true
			}
			if j < 0 {
				break
			}
			v = v[:j]
		}
	}
	if !client.IsValid() {
		return remote, false
	}
	return netip.AddrPortFrom(client, 0).String(), true
}

// forwardedAddr reads one X-Forwarded-For entry: an address, or an
// address with a port as some proxies write it.
func forwardedAddr(e string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(e); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(e); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// middleware rewrites the RemoteAddr of requests from trusted proxies.
func (t *trustedProxies) middleware(next http.Handler) http.Handler {
	if t == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if addr, ok := t.clientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For")); ok {
			r.RemoteAddr = addr
		}
		next.ServeHTTP(w, r)
	})
}
