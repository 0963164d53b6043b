package auth_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtbroker/rtbroker/gateways/auth"
)

// jwksServer serves a key set the test may change or take down.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	keys []map[string]string
	down atomic.Bool
	hits atomic.Int32
}

func newJWKSServer(t *testing.T, keys ...map[string]string) *jwksServer {
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if s.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) add(k map[string]string) {
	s.mu.Lock()
	s.keys = append(s.keys, k)
	s.mu.Unlock()
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, k *rsa.PublicKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "n": b64u(k.N.Bytes()), "e": b64u(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(kid string, k *ecdsa.PublicKey) map[string]string {
	b, _ := k.Bytes() // 0x04 || x || y
	n := (len(b) - 1) / 2
	return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "alg": "ES256", "x": b64u(b[1 : 1+n]), "y": b64u(b[1+n:])}
}

func signKid(t testing.TB, m jwt.SigningMethod, key any, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims("ada", nil))
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWKS(t *testing.T) {
	rsa1, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa2, _ := rsa.GenerateKey(rand.Reader, 2048)
	ec1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := newJWKSServer(t, rsaJWK("r1", &rsa1.PublicKey), ecJWK("e1", &ec1.PublicKey), map[string]string{"kty": "oct", "kid": "h1", "k": b64u(secret)})
	var logs bytes.Buffer
	var logMu sync.Mutex
	j, err := auth.NewJWKS(context.Background(), auth.JWKSConfig{
		URL: srv.URL + "/jwks.json?secret=query", Refresh: time.Hour, MinInterval: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	a := newAuth(t, auth.Config{JWKS: j})
	check := func(name, tok, wantErr string) {
		t.Helper()
		id, err := a.Authenticate(tok)
		if wantErr == "" && (err != nil || id.Subject != "ada") {
			t.Fatalf("%s: %+v, %v", name, id, err)
		}
		if wantErr != "" && (err == nil || !errors.Is(err, auth.ErrUnauthorized) || !strings.Contains(err.Error(), wantErr)) {
			t.Fatalf("%s: %+v, %v; want an error containing %q", name, id, err, wantErr)
		}
	}
	check("RS256 by kid", signKid(t, jwt.SigningMethodRS256, rsa1, "r1"), "")
	check("ES256 by kid", signKid(t, jwt.SigningMethodES256, ec1, "e1"), "")
	check("no kid", sign(t, jwt.SigningMethodRS256, rsa1, claims("ada", nil)), "")
	check("RS512 on an RS256 key", signKid(t, jwt.SigningMethodRS512, rsa1, "r1"), "not accepted")
	check("ES256 under an RSA kid", signKid(t, jwt.SigningMethodES256, ec1, "r1"), "not accepted")
	check("HS256 with the RSA key as secret", signKid(t, jwt.SigningMethodHS256, []byte(rsaJWK("r1", &rsa1.PublicKey)["n"]), "r1"), "signature is invalid")
	check("HS256 under the oct key", signKid(t, jwt.SigningMethodHS256, secret, "h1"), "signature is invalid")
	check("wrong RSA key under r1", signKid(t, jwt.SigningMethodRS256, rsa2, "r1"), "signature is invalid")

	// Rotation: a new kid is fetched when a token names it.
	hits := srv.hits.Load()
	srv.add(rsaJWK("r2", &rsa2.PublicKey))
	time.Sleep(250 * time.Millisecond)
	check("rotated key", signKid(t, jwt.SigningMethodRS256, rsa2, "r2"), "")
	if got := srv.hits.Load() - hits; got != 1 {
		t.Fatalf("%d fetches for a new kid, want 1", got)
	}
	// An unknown kid prompts at most one fetch per MinInterval.
	hits = srv.hits.Load()
	for range 5 {
		check("unknown kid", signKid(t, jwt.SigningMethodRS256, rsa2, "nope"), "kid")
	}
	if got := srv.hits.Load() - hits; got > 1 {
		t.Fatalf("%d fetches for unknown kids within MinInterval, want at most 1", got)
	}
	// Server down at refresh: the cached set keeps serving, the failure is logged.
	srv.down.Store(true)
	time.Sleep(250 * time.Millisecond)
	check("unknown kid, server down", signKid(t, jwt.SigningMethodRS256, rsa2, "nope2"), "kid")
	check("cached key, server down", signKid(t, jwt.SigningMethodRS256, rsa2, "r2"), "")
	logMu.Lock()
	l := logs.String()
	logMu.Unlock()
	if !strings.Contains(l, "keeping the cached keys") || strings.Contains(l, "secret=query") {
		t.Fatalf("log %q: want the refresh failure, without the URL's query", l)
	}
}

func TestJWKSPeriodicRefreshAndClose(t *testing.T) {
	rsa1, _ := rsa.GenerateKey(rand.Reader, 2048)
	srv := newJWKSServer(t, rsaJWK("r1", &rsa1.PublicKey))
	j, err := auth.NewJWKS(context.Background(), auth.JWKSConfig{URL: srv.URL, Refresh: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv.down.Store(true) // failures keep the keys
	time.Sleep(150 * time.Millisecond)
	if srv.hits.Load() < 3 {
		t.Fatalf("%d fetches in 150ms with a 20ms refresh", srv.hits.Load())
	}
	a := newAuth(t, auth.Config{JWKS: j})
	if _, err := a.Authenticate(signKid(t, jwt.SigningMethodRS256, rsa1, "r1")); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j.Close()
	hits := srv.hits.Load()
	time.Sleep(100 * time.Millisecond)
	if srv.hits.Load() != hits {
		t.Fatal("the refresher kept running after Close")
	}
}

func TestNewJWKSFailsClosed(t *testing.T) {
	rsa1, _ := rsa.GenerateKey(rand.Reader, 2048)
	down := newJWKSServer(t, rsaJWK("r1", &rsa1.PublicKey))
	down.down.Store(true)
	empty := newJWKSServer(t, map[string]string{"kty": "oct", "k": "AAAA"})
	bad := newJWKSServer(t, map[string]string{"kty": "RSA", "n": "AQAB", "e": "AQAB"})
	for _, tc := range []struct{ name, url, want string }{
		{"server down", down.URL, "503"},
		{"no usable key", empty.URL, "no usable"},
		{"short RSA key", bad.URL, "2048"},
		{"not http", "file:///etc/jwks.json", "http"},
		{"nobody listening", "http://127.0.0.1:1/jwks", "fetch JWKS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, err := auth.NewJWKS(context.Background(), auth.JWKSConfig{URL: tc.url})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				if j != nil {
					j.Close()
				}
				t.Fatalf("NewJWKS = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
