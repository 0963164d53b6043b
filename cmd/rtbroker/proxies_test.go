package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestTrustedProxiesClientAddr is the hostile table of X-Forwarded-For:
// only a trusted peer's header is believed, the client is the rightmost
// address that is not a trusted proxy, and anything unreadable keeps the
// peer's own address.
func TestTrustedProxiesClientAddr(t *testing.T) {
	tp, err := newTrustedProxies([]string{"10.0.0.0/8", "127.0.0.1", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.TrimSuffix(strings.Repeat("10.0.0.9, ", maxForwarded+1), ", ")
	for _, tc := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"untrusted peer: the header is not believed", "198.51.100.7:4000", []string{"203.0.113.1"}, "198.51.100.7:4000"},
		{"trusted peer without the header", "10.1.2.3:4000", nil, "10.1.2.3:4000"},
		{"trusted peer, one client", "10.1.2.3:4000", []string{"203.0.113.1"}, "203.0.113.1:0"},
		{"a spoofed entry left of the client is ignored", "10.1.2.3:4000", []string{"1.2.3.4, 203.0.113.1"}, "203.0.113.1:0"},
		{"a chain of trusted proxies is skipped", "127.0.0.1:4000", []string{"203.0.113.1, 10.0.0.5", "10.0.0.6"}, "203.0.113.1:0"},
		{"every entry a proxy: the leftmost", "10.1.2.3:4000", []string{"10.0.0.5, 10.0.0.6"}, "10.0.0.5:0"},
		{"an entry with a port", "10.1.2.3:4000", []string{"203.0.113.1:5555"}, "203.0.113.1:0"},
		{"IPv6 client and proxy", "[fd00::1]:4000", []string{"2001:db8::7"}, "[2001:db8::7]:0"},
		{"IPv4-mapped IPv6 peer", "[::ffff:10.1.2.3]:4000", []string{"203.0.113.1"}, "203.0.113.1:0"},
		{"garbage: the peer's address", "10.1.2.3:4000", []string{"not-an-ip"}, "10.1.2.3:4000"},
		{"garbage right of the client: the peer's address", "10.1.2.3:4000", []string{"203.0.113.1, x"}, "10.1.2.3:4000"},
		{"an empty entry: the peer's address", "10.1.2.3:4000", []string{"203.0.113.1,"}, "10.1.2.3:4000"},
		{"a zone: the peer's address", "10.1.2.3:4000", []string{"fe80::1%eth0"}, "10.1.2.3:4000"},
		{"a chain longer than the bound: the peer's address", "10.1.2.3:4000", []string{long}, "10.1.2.3:4000"},
		{"a RemoteAddr without a port is kept", "10.1.2.3", []string{"203.0.113.1"}, "10.1.2.3"},
	} {
		got, _ := tp.clientAddr(tc.remote, tc.xff)
		if got != tc.want {
			t.Errorf("%s: %q with %q → %q, want %q", tc.name, tc.remote, tc.xff, got, tc.want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example", ""} {
		if _, err := newTrustedProxies([]string{bad}); err == nil {
			t.Errorf("--trusted-proxies %q accepted", bad)
		}
	}
}

// TestTrustedProxiesRates: behind a trusted proxy, anonymous clients get
// the publish bucket of their own address from X-Forwarded-For; without
// --trusted-proxies the header is ignored and they share the peer's.
func TestTrustedProxiesRates(t *testing.T) {
	publish := func(base, xff string) int {
		req, _ := http.NewRequest("POST", base+"/api/rooms/general/events", strings.NewReader(`{"type":"m","data":1}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	limits := []string{"--publish-rate", "1/h", "--publish-burst", "1"}
	behind := startServer(t, "", append(limits, "--trusted-proxies", "127.0.0.0/8")...)
	direct := startServer(t, "", limits...)
	for _, tc := range []struct {
		name string
		base string
		xff  string
		want int
	}{
		{"behind: client A", behind.URL, "203.0.113.1", 201},
		{"behind: client A again, over its rate", behind.URL, "203.0.113.1", 429},
		{"behind: client B has its own bucket", behind.URL, "203.0.113.2", 201},
		{"behind: B spoofing A's address left of its own is still B", behind.URL, "203.0.113.1, 203.0.113.2", 429},
		{"direct: the header is ignored", direct.URL, "203.0.113.1", 201},
		{"direct: another header, the same peer's bucket", direct.URL, "203.0.113.2", 429},
	} {
		if got := publish(tc.base, tc.xff); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
