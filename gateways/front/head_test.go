package front

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

func TestParseHead(t *testing.T) {
	for _, tc := range []struct {
		name   string
		head   string
		ok     bool
		length int64
		close  bool
	}{
		{name: "publish", head: "POST /api/rooms/a/events HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nContent-Type: application/json\r\n\r\n", ok: true, length: 12},
		{name: "upgrade", head: "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", ok: true},
		{name: "connection close", head: "POST / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n", ok: true, close: true},
		{name: "value spaces trimmed", head: "POST / HTTP/1.1\r\nHost:  x \t\r\nContent-Length:\t3 \r\n\r\n", ok: true, length: 3},
		{name: "HTTP/1.0", head: "POST / HTTP/1.0\r\nHost: x\r\n\r\n"},
		{name: "HTTP/2 preface", head: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		{name: "no Host", head: "POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\n"},
		{name: "malformed Host", head: "POST / HTTP/1.1\r\nHost: a b\r\n\r\n"},
		{name: "two Hosts", head: "POST / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"},
		{name: "chunked", head: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{name: "chunked and a length", head: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{name: "expect", head: "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"},
		{name: "two lengths", head: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n"},
		{name: "length with a sign", head: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n"},
		{name: "length list", head: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\n"},
		{name: "length too long", head: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999999999999999\r\n\r\n"},
		{name: "folded line", head: "POST / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"},
		{name: "space before colon", head: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\n"},
		{name: "bare LF", head: "POST / HTTP/1.1\nHost: x\r\n\r\n"},
		{name: "bare CR in a value", head: "POST / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"},
		{name: "NUL in a value", head: "POST / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"},
		{name: "absolute target", head: "POST http://x/ HTTP/1.1\r\nHost: x\r\n\r\n"},
		{name: "asterisk target", head: "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"},
		{name: "two spaces", head: "POST  / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{name: "lower-case method", head: "post / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{name: "data after the head", head: "POST / HTTP/1.1\r\nHost: x\r\n\r\nabc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, ok := parseHead([]byte(tc.head), nil)
			if ok != tc.ok {
				t.Fatalf("parseHead ok = %v, want %v", ok, tc.ok)
			}
			if ok && (h.length != tc.length || h.close != tc.close) {
				t.Errorf("length %d close %v, want %d %v", h.length, h.close, tc.length, tc.close)
			}
		})
	}
}

// FuzzParseHead checks parseHead against net/http's own parser: a head
// the front serves must mean to net/http exactly what it means to the
// front (method, target, Host, every field, the body's length and
// whether the connection stays open), so that no request can be read
// one way by the front and another by net/http.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"POST /api/rooms/a/events HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n",
		"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end := headEnd(b)
		if end < 0 {
			return
		}
		b = b[:end]
		h, ok := parseHead(b, nil)
		if !ok {
			return
		}
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatalf("front serves %q, net/http refuses it: %v", b, err)
		}
		if !httpguts.ValidHostHeader(r.Host) {
			t.Fatalf("front serves %q, whose Host net/http's server refuses", b)
		}
		if r.Method != h.method || r.RequestURI != h.target || r.Host != h.host {
			t.Fatalf("%q: front reads %s %s host %q, net/http %s %s host %q", b, h.method, h.target, h.host, r.Method, r.RequestURI, r.Host)
		}
		if r.ContentLength != h.length && !(r.ContentLength == 0 && h.length == 0) {
			t.Fatalf("%q: front reads length %d, net/http %d", b, h.length, r.ContentLength)
		}
		if len(r.TransferEncoding) > 0 || r.Close != h.close {
			t.Fatalf("%q: net/http reads transfer encoding %v close %v, front close %v", b, r.TransferEncoding, r.Close, h.close)
		}
		r.Header.Del("Host") // net/http moves it to r.Host
		hh := h.header.Clone()
		hh.Del("Host")
		if len(r.Header) != len(hh) {
			t.Fatalf("%q: front reads fields %v, net/http %v", b, hh, r.Header)
		}
		for k, v := range r.Header {
			if !slices.Equal(v, hh[k]) {
				t.Fatalf("%q: field %s: front %q, net/http %q", b, k, hh[k], v)
			}
		}
	})
}

func BenchmarkParseHead(b *testing.B) {
	head := []byte("POST /api/rooms/general/events HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: rtbench\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(1024) + "\r\n\r\n")
	var f fieldBufs
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := parseHead(head, &f); !ok {
			b.Fatal("not parsed")
		}
	}
}

// FuzzPlainPath checks that a target plainPath accepts is what
// url.ParseRequestURI (net/http's parse of a request target) makes
// URL{Path: target} of, as serveRequest takes it to be.
func FuzzPlainPath(f *testing.F) {
	for _, s := range []string{"/api/rooms/a/events", "/a:b/c@d;e=f&g+h,i$j~k", "//x", "/a%20b", "/a?b", "/a!b", "/é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		if !strings.HasPrefix(target, "/") || !plainPath(target) {
			return
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			t.Fatalf("plainPath(%q), ParseRequestURI refuses it: %v", target, err)
		}
		if *u != (url.URL{Path: target}) {
			t.Fatalf("plainPath(%q), ParseRequestURI reads %#v", target, *u)
		}
	})
}
