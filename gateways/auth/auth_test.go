package auth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtbroker/rtbroker/gateways/auth"
)

var (
	secret = []byte("test-secret-0123456789abcdef0123")
	now    = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

// claims returns valid claims for sub, adjusted by edit.
func claims(sub string, edit func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"rooms": map[string]any{"subscribe": []string{"general", "news:*", "user:{sub}"}, "publish": []string{"general"}},
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func sign(t testing.TB, m jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newAuth(t testing.TB, cfg auth.Config) *auth.Authenticator {
	t.Helper()
	cfg.Now = func() time.Time { return now }
	a, err := auth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func pemOf(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestAuthenticate(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	parse := func(pub any) any {
		k, err := auth.ParsePublicKey(pemOf(t, pub))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	hs := auth.Config{Secrets: [][]byte{secret}, APIKeys: []string{"key-1", "key-2"}}
	rs := auth.Config{PublicKeys: []crypto.PublicKey{parse(&rsaKey.PublicKey)}}
	noneTok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("ada", nil))
	tests := []struct {
		name    string
		cfg     auth.Config
		token   string
		wantSub string // "" means an error is expected
		wantErr string
	}{
		{name: "HS256", cfg: hs, token: sign(t, jwt.SigningMethodHS256, secret, claims("ada", nil)), wantSub: "ada"},
		{name: "HS512 pinned", cfg: auth.Config{Secrets: [][]byte{secret}, Algorithm: "HS512"}, token: sign(t, jwt.SigningMethodHS512, secret, claims("ada", nil)), wantSub: "ada"},
		{name: "HS256 when HS512 pinned", cfg: auth.Config{Secrets: [][]byte{secret}, Algorithm: "HS512"}, token: sign(t, jwt.SigningMethodHS256, secret, claims("ada", nil)), wantErr: "signature is invalid"},
		{name: "RS256", cfg: rs, token: sign(t, jwt.SigningMethodRS256, rsaKey, claims("ada", nil)), wantSub: "ada"},
		{name: "PS384 pinned", cfg: auth.Config{PublicKeys: rs.PublicKeys, Algorithm: "PS384"}, token: sign(t, jwt.SigningMethodPS384, rsaKey, claims("ada", nil)), wantSub: "ada"},
		{name: "ES256", cfg: auth.Config{PublicKeys: []crypto.PublicKey{parse(&ecKey.PublicKey)}}, token: sign(t, jwt.SigningMethodES256, ecKey, claims("ada", nil)), wantSub: "ada"},
		{name: "EdDSA", cfg: auth.Config{PublicKeys: []crypto.PublicKey{parse(edPub)}}, token: sign(t, jwt.SigningMethodEdDSA, edKey, claims("ada", nil)), wantSub: "ada"},
		{name: "API key", cfg: hs, token: "key-2", wantSub: auth.APISubject},
		{name: "unknown API key", cfg: auth.Config{APIKeys: []string{"key-1"}}, token: "key-3", wantErr: "unknown credential"},
		{name: "bad signature", cfg: hs, token: sign(t, jwt.SigningMethodHS256, []byte("another secret"), claims("ada", nil)), wantErr: "signature"},
		{name: "alg none", cfg: hs, token: noneTok, wantErr: "signature is invalid"},
		{name: "alg none, RS pinned", cfg: rs, token: noneTok, wantErr: "signature is invalid"},
		// The classic confusion: an HS token whose secret is the RS public key.
		{name: "HS token when RS pinned", cfg: rs, token: sign(t, jwt.SigningMethodHS256, pemOf(t, &rsaKey.PublicKey), claims("ada", nil)), wantErr: "signature is invalid"},
		{name: "RS token when HS configured", cfg: hs, token: sign(t, jwt.SigningMethodRS256, rsaKey, claims("ada", nil)), wantErr: "signature is invalid"},
		{name: "expired", cfg: hs, token: sign(t, jwt.SigningMethodHS256, secret, claims("ada", func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), wantErr: "expired"},
		{name: "expired within leeway", cfg: hs, token: sign(t, jwt.SigningMethodHS256, secret, claims("ada", func(c jwt.MapClaims) { c["exp"] = now.Add(-10 * time.Second).Unix() })), wantSub: "ada"},
		{name: "no exp", cfg: hs, token: sign(t, jwt.SigningMethodHS256, secret, claims("ada", func(c jwt.MapClaims) { delete(c, "exp") })), wantErr: "exp"},
		{name: "not yet valid", cfg: hs, token: sign(t, jwt.SigningMethodHS256, secret, claims("ada", func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() })), wantErr: "not valid yet"},
		{name: "issued in the future", cfg: hs, token: sign(t, jwt.SigningMethodHS256, secret, claims("ada", func(c jwt.MapClaims) { c["iat"] = now.Add(time.Minute).Unix() })), wantErr: "future"},
		{name: "issuer ok", cfg: auth.Config{Secrets: hs.Secrets, Issuer: "me", Audience: "rt"}, token: sign(t, jwt.SigningMethodHS256, secret, claims("ada", func(c jwt.MapClaims) { c["iss"], c["aud"] = "me", []string{"x", "rt"} })), wantSub: "ada"},
		{name: "wrong issuer", cfg: auth.Config{Secrets: hs.Secrets, Issuer: "me"}, token: sign(t, jwt.SigningMethodHS256, secret, claims("ada", func(c jwt.MapClaims) { c["iss"] = "them" })), wantErr: "issuer"},
		{name: "wrong audience", cfg: auth.Config{Secrets: hs.Secrets, Audience: "rt"}, token: sign(t, jwt.SigningMethodHS256, secret, claims("ada", func(c jwt.MapClaims) { c["aud"] = "other" })), wantErr: "audience"},
		{name: "no sub", cfg: hs, token: sign(t, jwt.SigningMethodHS256, secret, claims("", nil)), wantErr: "no sub"},
		{name: "reserved sub api", cfg: hs, token: sign(t, jwt.SigningMethodHS256, secret, claims("api", nil)), wantErr: "reserved"},
		{name: "reserved sub anonymous", cfg: hs, token: sign(t, jwt.SigningMethodHS256, secret, claims("anonymous:x", nil)), wantErr: "reserved"},
		{name: "wildcard sub", cfg: hs, token: sign(t, jwt.SigningMethodHS256, secret, claims("*", nil)), wantErr: "contains"},
		{name: "rooms of the wrong type", cfg: hs, token: sign(t, jwt.SigningMethodHS256, secret, claims("ada", func(c jwt.MapClaims) { c["rooms"] = "all" })), wantErr: "malformed"},
		{name: "garbage", cfg: hs, token: "not.a.token", wantErr: "malformed"},
		{name: "too long", cfg: hs, token: strings.Repeat("a", auth.MaxTokenLen+1), wantErr: "too long"},
		{name: "anonymous off", cfg: hs, token: "", wantErr: "required"},
		{name: "anonymous on", cfg: auth.Config{Anonymous: true}, token: "", wantSub: auth.AnonymousPrefix},
		{name: "token with no key configured", cfg: auth.Config{Anonymous: true}, token: sign(t, jwt.SigningMethodHS256, secret, claims("ada", nil)), wantErr: "unknown credential"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAuth(t, tc.cfg)
			id, err := a.Authenticate(tc.token)
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, auth.ErrUnauthorized) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Authenticate = %+v, %v; want an unauthorized error containing %q", id, err, tc.wantErr)
				}
				if tc.token != "" && strings.Contains(err.Error(), tc.token) {
					t.Fatalf("the error %q contains the token", err)
				}
				return
			}
			if err != nil || !strings.HasPrefix(id.Subject, tc.wantSub) {
				t.Fatalf("Authenticate = %+v, %v; want subject %q", id, err, tc.wantSub)
			}
		})
	}
}

func TestAuthenticateTokenRefusesAPIKeys(t *testing.T) {
	a := newAuth(t, auth.Config{Secrets: [][]byte{secret}, APIKeys: []string{"key-1"}})
	if id, err := a.AuthenticateToken("key-1"); !errors.Is(err, auth.ErrUnauthorized) || strings.Contains(err.Error(), "key-1") {
		t.Fatalf("AuthenticateToken(API key) = %+v, %v; want unauthorized, without the key", id, err)
	}
	tok := sign(t, jwt.SigningMethodHS256, secret, claims("ada", nil))
	id, err := a.AuthenticateToken(tok)
	if err != nil || id.Subject != "ada" || !id.Expires.Equal(now.Add(time.Hour)) {
		t.Fatalf("AuthenticateToken(jwt) = %+v, %v", id, err)
	}
	if d := a.Deadline(id); !d.Equal(now.Add(time.Hour + auth.DefaultLeeway)) {
		t.Fatalf("Deadline = %v, want exp plus the leeway", d)
	}
	kid, err := a.Authenticate("key-1")
	if err != nil || !kid.APIKey || !kid.Expires.IsZero() || !a.Deadline(kid).IsZero() {
		t.Fatalf("Authenticate(API key) = %+v, %v; an API key never expires", kid, err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		name string
		cfg  auth.Config
	}{
		{"none", auth.Config{Secrets: [][]byte{secret}, Algorithm: "none"}},
		{"unknown alg", auth.Config{Secrets: [][]byte{secret}, Algorithm: "HS1024"}},
		{"RS pinned with a secret", auth.Config{Secrets: [][]byte{secret}, Algorithm: "RS256"}},
		{"HS pinned with an RSA key", auth.Config{PublicKeys: []crypto.PublicKey{&rsaKey.PublicKey}, Algorithm: "HS256"}},
		{"empty secret", auth.Config{Secrets: [][]byte{{}}}},
		{"empty API key", auth.Config{APIKeys: []string{""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := auth.New(tc.cfg); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	a := newAuth(t, auth.Config{Secrets: [][]byte{secret}})
	tok := func(rooms map[string]any) auth.Identity {
		id, err := a.Authenticate(sign(t, jwt.SigningMethodHS256, secret, claims("ada", func(c jwt.MapClaims) { c["rooms"] = rooms })))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	std := tok(map[string]any{"subscribe": []string{"general", "news:*", "user:{sub}"}, "publish": []string{"general"}})
	explicit := tok(map[string]any{"subscribe": []string{"*"}, "history": []string{}})
	anon := newAuth(t, auth.Config{Anonymous: true, AnonymousPermissions: auth.Permissions{Subscribe: []string{"user:{sub}", "lobby"}}})
	anonID, _ := anon.Authenticate("")
	tests := []struct {
		name   string
		id     auth.Identity
		action auth.Action
		room   string
		want   bool
	}{
		{"exact", std, auth.Subscribe, "general", true},
		{"prefix wildcard", std, auth.Subscribe, "news:sports", true},
		{"wildcard needs a character", std, auth.Subscribe, "news:", false},
		{"other room", std, auth.Subscribe, "secret", false},
		{"own user room", std, auth.Subscribe, "user:ada", true},
		{"someone else's user room", std, auth.Subscribe, "user:bob", false},
		{"history follows subscribe", std, auth.History, "news:x", true},
		{"publish", std, auth.Publish, "general", true},
		{"publish elsewhere", std, auth.Publish, "news:x", false},
		{"explicit empty history", explicit, auth.History, "general", false},
		{"explicit subscribe *", explicit, auth.Subscribe, "anything", true},
		{"anonymous {sub} never matches", anonID, auth.Subscribe, "user:" + anonID.Subject, false},
		{"anonymous exact", anonID, auth.Subscribe, "lobby", true},
		{"anonymous publish", anonID, auth.Publish, "lobby", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.id.Can(tc.action, tc.room); got != tc.want {
				t.Fatalf("Can(%s, %q) = %v, want %v", tc.action, tc.room, got, tc.want)
			}
			if err := tc.id.Check(tc.action, tc.room); (err == nil) != tc.want || err != nil && !errors.Is(err, auth.ErrForbidden) {
				t.Fatalf("Check = %v", err)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, room, sub string
		want               bool
	}{
		{"*", "a", "", true},
		{"*", "", "", false},
		{"a*b", "ab", "", false},
		{"a*b", "axb", "", true},
		{"a*b*c", "axxbyc", "", true},
		{"a*b*c", "abc", "", false},
		{"a*b*c", "axbxbc", "", true},
		{"*:*", "x:y", "", true},
		{"*:*", "x:", "", false},
		{"**", "x", "", false},
		{"**", "xy", "", true},
		{"user:{sub}", "user:ada", "ada", true},
		{"user:{sub}", "user:*", "*", true},
		{"user:{sub}", "user:bob", "*", false}, // a * in the subject is literal
		{"user:{sub}:*", "user:ada:inbox", "ada", true},
		{"user:{sub}", "user:", "", false},
	}
	for _, tc := range tests {
		if got := auth.Match(tc.pattern, tc.room, tc.sub); got != tc.want {
			t.Errorf("Match(%q, %q, %q) = %v, want %v", tc.pattern, tc.room, tc.sub, got, tc.want)
		}
	}
}

func TestAnonymousIDsDiffer(t *testing.T) {
	a := auth.Open()
	x, _ := a.Authenticate("")
	y, _ := a.Authenticate("")
	if x.Subject == y.Subject || !x.Anonymous || !x.Can(auth.Publish, "any") {
		t.Fatalf("anonymous identities %+v %+v", x, y)
	}
}

func FuzzAuthenticate(f *testing.F) {
	a := newAuth(f, auth.Config{Secrets: [][]byte{secret}, APIKeys: []string{"the-api-key"}})
	valid := sign(f, jwt.SigningMethodHS256, secret, claims("ada", nil))
	f.Add(valid)
	f.Add(valid[:len(valid)-2])
	f.Add(sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("ada", nil)))
	f.Add(sign(f, jwt.SigningMethodHS256, []byte("other"), claims("ada", nil)))
	f.Add("the-api-key")
	f.Add("")
	f.Add("e30.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := a.Authenticate(tok)
		if err != nil {
			if !errors.Is(err, auth.ErrUnauthorized) {
				t.Fatalf("error %v is not ErrUnauthorized", err)
			}
			return
		}
		switch {
		case tok == "the-api-key":
			if !id.APIKey {
				t.Fatalf("API key gave %+v", id)
			}
		case tok == valid:
		default:
			// Anything else that passes must carry a valid HS256 signature
			// by our secret: re-verify independently.
			_, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return secret, nil },
				jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithLeeway(auth.DefaultLeeway))
			if err != nil || slices.Contains([]string{"", "api"}, id.Subject) {
				t.Fatalf("Authenticate accepted %q as %+v (independent check: %v)", tok, id, err)
			}
		}
	})
}
