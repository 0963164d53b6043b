package limit

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtbroker/rtbroker/gateways/auth"
)

// Rate is a token-bucket rate: PerSecond tokens are added each second, up
// to Burst. The zero Rate (or a non-positive PerSecond) means unlimited.
type Rate struct {
	PerSecond float64
	Burst     int
}

// ParseRate parses "N/s", "N/m" or "N/h" (N a non-negative number; "0"
// alone, or N = 0, means unlimited).
func ParseRate(s string) (float64, error) {
	if s == "0" || s == "" {
		return 0, nil
	}
	n, unit, ok := strings.Cut(s, "/")
	v, err := strconv.ParseFloat(n, 64)
	if !ok || err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("rate %q: want N/s, N/m or N/h", s)
	}
	switch unit {
	case "s":
		return v, nil
	case "m":
		return v / 60, nil
	case "h":
		return v / 3600, nil
	}
	return 0, fmt.Errorf("rate %q: unit must be s, m or h", s)
}

// DefaultMaxKeys bounds the buckets a Buckets keeps when NewBuckets is
// given no bound.
const DefaultMaxKeys = 100_000

// Buckets is a set of token buckets of one Rate, one per key. Memory is
// bounded by maxKeys: a full bucket (idle long enough to have refilled)
// is the same as a new one, so it is dropped when room is needed; if none
// is full, an arbitrary bucket is dropped (its key starts afresh, which
// errs on the client's side). Safe for concurrent use; a nil *Buckets
// allows everything.
type Buckets struct {
	rate    Rate
	maxKeys int
	now     func() time.Time

	rejected atomic.Int64 // Allow calls that returned false, for Rejected

	mu        sync.Mutex         // guards the fields below
	buckets   map[string]*bucket // by key
	lastSweep time.Time          // when full buckets were last swept
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

// NewBuckets returns buckets of rate r, at most maxKeys of them
// (DefaultMaxKeys when <= 0), reading time from now (time.Now when nil).
// It returns nil (no limit) for an unlimited rate.
func NewBuckets(r Rate, maxKeys int, now func() time.Time) *Buckets {
	if r.PerSecond <= 0 {
		return nil
	}
	if r.Burst < 1 {
		r.Burst = 1
	}
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	return &Buckets{rate: r, maxKeys: maxKeys, now: now, buckets: make(map[string]*bucket)}
}

// Allow takes a token from key's bucket. When there is none it returns
// false and how long until one is available.
func (b *Buckets) Allow(key string) (ok bool, wait time.Duration) {
	if b == nil {
		return true, 0
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.buckets[key]
	if bk == nil {
		if len(b.buckets) >= b.maxKeys {
			b.evict(now)
		}
		bk = &bucket{tokens: float64(b.rate.Burst), at: now}
		b.buckets[key] = bk
	}
	b.refill(bk, now)
	if bk.tokens >= 1 {
		bk.tokens--
		return true, 0
	}
	b.rejected.Add(1)
	return false, time.Duration((1 - bk.tokens) / b.rate.PerSecond * float64(time.Second))
}

// Len returns how many buckets are kept.
func (b *Buckets) Len() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buckets)
}

func (b *Buckets) refill(bk *bucket, now time.Time) {
	if el := now.Sub(bk.at); el > 0 {
		bk.tokens = min(float64(b.rate.Burst), bk.tokens+el.Seconds()*b.rate.PerSecond)
		bk.at = now
	}
}

// evict makes room for one bucket: it drops every full bucket (at most one
// sweep per second, so a flood of keys does not sweep on every call), and
// an arbitrary one if that freed nothing.
func (b *Buckets) evict(now time.Time) {
	if now.Sub(b.lastSweep) >= time.Second {
		b.lastSweep = now
		for k, bk := range b.buckets {
			b.refill(bk, now)
			if bk.tokens >= float64(b.rate.Burst) {
				delete(b.buckets, k)
			}
		}
	}
	for k := range b.buckets {
		if len(b.buckets) < b.maxKeys {
			break
		}
		delete(b.buckets, k)
	}
}

// PublishKey returns the bucket key of a publish by id from remoteAddr
// ("IP:port"), and false when the identity is not limited: API keys
// (server-to-server) are exempt. Anonymous clients, whose subject is
// random, share the bucket of their IP address.
func PublishKey(id auth.Identity, remoteAddr string) (string, bool) {
	switch {
	case id.APIKey:
		return "", false
	case id.Anonymous:
		return "ip:" + ClientIP(remoteAddr), true
	}
	return "sub:" + id.Subject, true
}

// ClientIP returns the IP address of remoteAddr ("IP:port"), or
// remoteAddr itself when it has no port. Proxy headers are not trusted.
func ClientIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// requestIP is ClientIP of r.
func requestIP(r *http.Request) string { return ClientIP(r.RemoteAddr) }
