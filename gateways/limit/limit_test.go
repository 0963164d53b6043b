package limit

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/internal/httpx"
)

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestBuckets(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	b := NewBuckets(Rate{PerSecond: 2, Burst: 3}, 0, c.now)
	steps := []struct {
		name    string
		advance time.Duration
		wantOK  bool
		wantMax time.Duration // bound on wait when refused
	}{
		{name: "burst 1", wantOK: true},
		{name: "burst 2", wantOK: true},
		{name: "burst 3", wantOK: true},
		{name: "empty", wantOK: false, wantMax: 500 * time.Millisecond},
		{name: "half a token", advance: 250 * time.Millisecond, wantOK: false, wantMax: 250 * time.Millisecond},
		{name: "refilled one", advance: 250 * time.Millisecond, wantOK: true},
		{name: "empty again", wantOK: false, wantMax: 500 * time.Millisecond},
		{name: "long idle refills to burst only", advance: time.Hour, wantOK: true},
		{name: "idle 2", wantOK: true},
		{name: "idle 3", wantOK: true},
		{name: "idle 4", wantOK: false, wantMax: 500 * time.Millisecond},
	}
	for _, s := range steps {
		c.t = c.t.Add(s.advance)
		ok, wait := b.Allow("k")
		if ok != s.wantOK || (!ok && (wait <= 0 || wait > s.wantMax)) {
			t.Fatalf("%s: Allow = %v, %v; want %v (wait <= %v)", s.name, ok, wait, s.wantOK, s.wantMax)
		}
	}
	if ok, _ := b.Allow("other"); !ok {
		t.Fatal("keys share a bucket")
	}
}

func TestBucketsBounded(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	b := NewBuckets(Rate{PerSecond: 1, Burst: 1}, 10, c.now)
	for i := range 1000 {
		if i%100 == 0 {
			c.t = c.t.Add(2 * time.Second) // lets idle buckets refill and be swept
		}
		if ok, _ := b.Allow(fmt.Sprint("k", i)); !ok {
			t.Fatalf("new key %d refused", i)
		}
		if n := b.Len(); n > 10 {
			t.Fatalf("%d buckets kept, max 10", n)
		}
	}
}

func TestNilLimitsAllow(t *testing.T) {
	if NewBuckets(Rate{}, 0, nil) != nil || NewConns(0) != nil {
		t.Fatal("an unlimited limit is not nil")
	}
	var b *Buckets
	var c *Conns
	if ok, _ := b.Allow("k"); !ok || !c.Acquire("ip") {
		t.Fatal("nil limits refuse")
	}
}

func TestConns(t *testing.T) {
	c := NewConns(2)
	if !c.Acquire("a") || !c.Acquire("a") || c.Acquire("a") || !c.Acquire("b") {
		t.Fatal("cap per IP not applied")
	}
	c.Release("a")
	if !c.Acquire("a") {
		t.Fatal("released slot not reusable")
	}
	c.Release("a")
	c.Release("a")
	c.Release("b")
	if c.Len() != 0 {
		t.Fatalf("%d IPs kept after all released", c.Len())
	}
	// Middleware: held requests count; the next one is 429.
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	h := NewConns(1).Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	req := httptest.NewRequest("GET", "/sse", nil)
	done := make(chan struct{})
	go func() { h.ServeHTTP(httptest.NewRecorder(), req); close(done) }()
	<-entered
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("second request: %d %v", rec.Code, rec.Header())
	}
	close(release)
	<-done

	// A handler that detaches (a hijacked stream) holds its slot after it
	// returns, until it ends.
	c = NewConns(1)
	var end func()
	h = c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { end = httpx.Detach(r) }))
	h.ServeHTTP(httptest.NewRecorder(), req)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 429 {
		t.Fatalf("request while a detached stream runs: %d", rec.Code)
	}
	end()
	if c.Len() != 0 {
		t.Fatalf("%d IPs kept after the detached stream ended", c.Len())
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		err  bool
	}{
		{in: "100/s", want: 100}, {in: "60/m", want: 1}, {in: "0", want: 0}, {in: "3600/h", want: 1},
		{in: "10", err: true}, {in: "-1/s", err: true}, {in: "1/d", err: true}, {in: "x/s", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRate(tc.in)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("ParseRate = %v, %v", got, err)
			}
		})
	}
}

func TestPublishKey(t *testing.T) {
	if _, limited := PublishKey(auth.Identity{Subject: "api", APIKey: true}, "1.2.3.4:5"); limited {
		t.Error("API key limited")
	}
	if k, _ := PublishKey(auth.Identity{Subject: "anon-x", Anonymous: true}, "1.2.3.4:5"); k != "ip:1.2.3.4" {
		t.Errorf("anonymous key %q", k)
	}
	if k, _ := PublishKey(auth.Identity{Subject: "ada"}, "1.2.3.4:5"); k != "sub:ada" {
		t.Errorf("token key %q", k)
	}
}

func TestConnects(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	b := NewBuckets(Rate{PerSecond: 1, Burst: 2}, 0, c.now)
	h := Connects(b, func(r *http.Request) bool { return r.URL.Query().Get("sid") == "" })(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	steps := []struct {
		name, remote, path string
		advance            time.Duration
		wantStatus         int
	}{
		{name: "first", remote: "10.0.0.1:1000", path: "/x", wantStatus: 204},
		{name: "second, another port", remote: "10.0.0.1:1001", path: "/x", wantStatus: 204},
		{name: "over the burst", remote: "10.0.0.1:1002", path: "/x", wantStatus: 429},
		{name: "not a new connection", remote: "10.0.0.1:1002", path: "/x?sid=abc", wantStatus: 204},
		{name: "another address", remote: "10.0.0.2:1000", path: "/x", wantStatus: 204},
		{name: "refilled", remote: "10.0.0.1:1003", path: "/x", advance: time.Second, wantStatus: 204},
		{name: "empty again", remote: "10.0.0.1:1003", path: "/x", wantStatus: 429},
	}
	for _, s := range steps {
		c.t = c.t.Add(s.advance)
		req := httptest.NewRequest("GET", s.path, nil)
		req.RemoteAddr = s.remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != s.wantStatus {
			t.Fatalf("%s: status %d, want %d", s.name, rec.Code, s.wantStatus)
		}
		if rec.Code == 429 {
			if rec.Header().Get("Retry-After") != "1" || !strings.Contains(rec.Body.String(), `"code":"rate_limited"`) {
				t.Fatalf("%s: %v %s", s.name, rec.Header(), rec.Body)
			}
		}
	}
	// No buckets: the handler itself.
	next := http.NotFoundHandler()
	if got := Connects(nil, nil)(next); fmt.Sprint(got) != fmt.Sprint(next) {
		t.Fatal("a nil bucket set wraps the handler")
	}
}
