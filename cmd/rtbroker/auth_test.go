package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testSecret = "e2e-secret-do-not-log-0123456789"
	testAPIKey = "e2e-api-key-do-not-log"
)

// mint signs claims for sub with testSecret (HS256), valid for an hour,
// adjusted by edit.
func mint(t testing.TB, sub string, edit func(jwt.MapClaims)) string {
	t.Helper()
	c := jwt.MapClaims{
		"sub": sub, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		"rooms": map[string]any{"subscribe": []string{"general", "news:*", "user:{sub}"}, "publish": []string{"general", "user:{sub}"}},
	}
	if edit != nil {
		edit(c)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// cred places a credential on a request the way a client would.
type cred struct {
	bearer, apiKey, cookie, query string
}

func (c cred) do(t testing.TB, method, u, body string) (int, string, http.Header) {
	t.Helper()
	if c.query != "" {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "token=" + url.QueryEscape(c.query)
	}
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.apiKey != "" {
		req.Header.Set("X-API-Key", c.apiKey)
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "rtbroker_token", Value: c.cookie})
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp.StatusCode, "", resp.Header // a stream: the status is what matters
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func errCode(body string) string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal([]byte(body), &e)
	return e.Error.Code
}

// TestAuthHTTP: who may do what over REST, SSE and long-poll — tokens in
// each place, API keys, user rooms. Refused credentials and the other
// hostile inputs are in the hostile tables (hostile_http_test.go).
func TestAuthHTTP(t *testing.T) {
	s := startServer(t, "", "--jwt-secret", testSecret, "--api-key", "other-key,"+testAPIKey, "--log-level", "debug")
	ada := mint(t, "ada", nil)
	secrets := []string{testSecret, testAPIKey, ada}
	pub := `{"type":"chat:message","data":{"text":"hi"}}`
	type tcase struct {
		name       string
		cred       cred
		method     string
		path, body string
		wantStatus int
		wantCode   string
		wantFrom   string
	}
	tests := []tcase{
		{name: "rooms without a token", method: "GET", path: "/api/rooms", wantStatus: 401, wantCode: "unauthorized"},
		{name: "backup without a token", method: "GET", path: "/api/backup", wantStatus: 401, wantCode: "unauthorized"},
		{name: "other Authorization scheme", cred: cred{}, method: "GET", path: "/api/rooms/general/events", wantStatus: 401, wantCode: "unauthorized"},

		{name: "publish with a bearer token", cred: cred{bearer: ada}, method: "POST", path: "/api/rooms/general/events", body: pub, wantStatus: 201, wantFrom: "ada"},
		{name: "batch publish", cred: cred{bearer: ada}, method: "POST", path: "/api/rooms/general/events", body: "[" + pub + "]", wantStatus: 201},
		{name: "spoofed from is refused", cred: cred{bearer: ada}, method: "POST", path: "/api/rooms/general/events", body: `{"type":"t","data":1,"from":"eve"}`, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "publish to own user room", cred: cred{cookie: ada}, method: "POST", path: "/api/rooms/user:ada/events", body: pub, wantStatus: 201, wantFrom: "ada"},
		{name: "publish to another user's room", cred: cred{bearer: ada}, method: "POST", path: "/api/rooms/user:bob/events", body: pub, wantStatus: 403, wantCode: "forbidden"},
		{name: "publish with an API key", cred: cred{apiKey: testAPIKey}, method: "POST", path: "/api/rooms/ops/events", body: pub, wantStatus: 201, wantFrom: "api"},
		{name: "publish with an API key as bearer", cred: cred{bearer: testAPIKey}, method: "POST", path: "/api/rooms/ops/events", body: pub, wantStatus: 201, wantFrom: "api"},
		{name: "unknown API key", cred: cred{apiKey: "guess"}, method: "POST", path: "/api/rooms/ops/events", body: pub, wantStatus: 401, wantCode: "unauthorized"},

		{name: "history granted", cred: cred{query: ada}, method: "GET", path: "/api/rooms/news:a/events", wantStatus: 200},
		{name: "history before, not granted", cred: cred{bearer: ada}, method: "GET", path: "/api/rooms/ops/events?before=0", wantStatus: 403, wantCode: "forbidden"},
		{name: "sse granted", cred: cred{query: ada}, method: "GET", path: "/sse?room=general&room=user:ada", wantStatus: 200},
		{name: "sse, another user's room", cred: cred{cookie: ada}, method: "GET", path: "/sse?room=user:bob", wantStatus: 403, wantCode: "forbidden"},
		{name: "poll granted", cred: cred{cookie: ada}, method: "GET", path: "/poll?room=news:b&after=0&timeout=0s", wantStatus: 200},
		{name: "poll with an API key", cred: cred{apiKey: testAPIKey}, method: "GET", path: "/poll?room=ops&after=0&timeout=0s", wantStatus: 200},
		{name: "backup with a user token", cred: cred{bearer: ada}, method: "GET", path: "/api/backup", wantStatus: 403, wantCode: "forbidden"},
		{name: "backup with an API key", cred: cred{apiKey: testAPIKey}, method: "GET", path: "/api/backup", wantStatus: 200},
		{name: "sse with an API key header", cred: cred{apiKey: testAPIKey}, method: "GET", path: "/sse?room=ops", wantStatus: 200},
	}
	// An API key authenticates only from a header: in the cookie or the
	// query it is a bad token, everywhere.
	for _, c := range []cred{{cookie: testAPIKey}, {query: testAPIKey}} {
		where := map[bool]string{true: "cookie", false: "query"}[c.cookie != ""]
		tests = append(tests,
			tcase{name: "API key in " + where + " publish", cred: c, method: "POST", path: "/api/rooms/ops/events", body: pub, wantStatus: 401, wantCode: "unauthorized"},
			tcase{name: "API key in " + where + " history", cred: c, method: "GET", path: "/api/rooms/ops/events", wantStatus: 401, wantCode: "unauthorized"},
			tcase{name: "API key in " + where + " sse", cred: c, method: "GET", path: "/sse?room=ops", wantStatus: 401, wantCode: "unauthorized"},
			tcase{name: "API key in " + where + " poll", cred: c, method: "GET", path: "/poll?room=ops&after=0&timeout=0s", wantStatus: 401, wantCode: "unauthorized"},
			tcase{name: "API key in " + where + " backup", cred: c, method: "GET", path: "/api/backup", wantStatus: 401, wantCode: "unauthorized"},
		)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cred
			if tc.name == "other Authorization scheme" {
				req, _ := http.NewRequest("GET", s.URL+tc.path, nil)
				req.SetBasicAuth("ada", "pw")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.wantStatus {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
				}
				return
			}
			status, body, hdr := c.do(t, tc.method, s.URL+tc.path, tc.body)
			if status != tc.wantStatus || tc.wantCode != "" && errCode(body) != tc.wantCode {
				t.Fatalf("%s %s: %d %s, want %d %s", tc.method, tc.path, status, body, tc.wantStatus, tc.wantCode)
			}
			if status == 401 && hdr.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tc.wantFrom != "" {
				var ev struct{ From string }
				json.Unmarshal([]byte(body), &ev)
				if ev.From != tc.wantFrom {
					t.Fatalf("from = %q, want %q (%s)", ev.From, tc.wantFrom, body)
				}
			}
			for _, sec := range secrets {
				if strings.Contains(body, sec) {
					t.Fatalf("the response echoes a credential: %s", body)
				}
			}
			// After every hostile request, a good client is still served.
			if st, b, _ := (cred{bearer: ada}).do(t, "GET", s.URL+"/poll?room=general&after=0&timeout=0s", ""); st != 200 {
				t.Fatalf("good client after %s: %d %s", tc.name, st, b)
			}
		})
	}

	// The rooms list shows only rooms whose history the identity may read.
	_, body, _ := (cred{bearer: ada}).do(t, "GET", s.URL+"/api/rooms", "")
	if !strings.Contains(body, `"room":"general"`) || strings.Contains(body, `"room":"ops"`) {
		t.Errorf("ada's rooms list: %s", body)
	}
	_, body, _ = (cred{apiKey: testAPIKey}).do(t, "GET", s.URL+"/api/rooms", "")
	if !strings.Contains(body, `"room":"ops"`) {
		t.Errorf("API key's rooms list: %s", body)
	}

	s.Stop(t)
	logs := s.logs.String()
	for _, sec := range secrets {
		if strings.Contains(logs, sec) {
			t.Errorf("a credential was logged:\n%s", logs)
		}
	}
}

func TestAuthAnonymous(t *testing.T) {
	pub := `{"type":"chat:message","data":{"text":"hi"}}`
	t.Run("demo default: anonymous publishes as anonymous:<id>", func(t *testing.T) {
		s := startServer(t, "")
		status, body, _ := (cred{}).do(t, "POST", s.URL+"/api/rooms/lobby/events", pub)
		var ev struct{ From string }
		json.Unmarshal([]byte(body), &ev)
		if status != 201 || !strings.HasPrefix(ev.From, "anonymous:") || len(ev.From) <= len("anonymous:") {
			t.Fatalf("%d %s", status, body)
		}
		if st, b, _ := (cred{}).do(t, "GET", s.URL+"/api/backup", ""); st != 200 {
			t.Fatalf("open backup: %d %s", st, b)
		}
	})
	t.Run("a secret turns anonymous off", func(t *testing.T) {
		s := startServer(t, "", "--jwt-secret", testSecret)
		if st, _, _ := (cred{}).do(t, "GET", s.URL+"/poll?room=lobby&timeout=0s", ""); st != 401 {
			t.Fatalf("anonymous poll: %d", st)
		}
	})
	t.Run("explicit --anonymous with read-only permissions", func(t *testing.T) {
		s := startServer(t, "", "--jwt-secret", testSecret, "--anonymous", "--anonymous-subscribe", "lobby,public:*", "--anonymous-publish=")
		for _, tc := range []struct {
			method, path, body string
			want               int
		}{
			{"GET", "/poll?room=lobby&timeout=0s", "", 200},
			{"GET", "/api/rooms/public:x/events", "", 200},
			{"GET", "/poll?room=general&timeout=0s", "", 403},
			{"POST", "/api/rooms/lobby/events", pub, 403},
		} {
			if st, b, _ := (cred{}).do(t, tc.method, s.URL+tc.path, tc.body); st != tc.want {
				t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, st, b, tc.want)
			}
		}
		// A token still works beside anonymous access.
		if st, b, _ := (cred{bearer: mint(t, "ada", nil)}).do(t, "POST", s.URL+"/api/rooms/general/events", pub); st != 201 {
			t.Errorf("token publish: %d %s", st, b)
		}
	})
	t.Run("bad security flags stop the server", func(t *testing.T) {
		for _, args := range [][]string{
			{"--jwt-alg", "none", "--jwt-secret", "x"},
			{"--jwt-alg", "RS256", "--jwt-secret", "x"},
			{"--jwt-public-key", "/nonexistent.pem"},
			{"--jwks-url", "http://127.0.0.1:1/jwks.json"}, // fails closed: nothing listens
		} {
			cfg, err := parseConfig("serve", append([]string{"--data", t.TempDir()}, args...), func(string) string { return "" }, io.Discard)
			if err == nil {
				var closeAuth func()
				if _, closeAuth, err = cfg.authenticator(context.Background(), slog.New(slog.DiscardHandler)); err == nil {
					closeAuth()
				}
			}
			if err == nil {
				t.Errorf("%v accepted", args)
			}
		}
	})
}

func TestAuthJWKS(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	set := fmt.Sprintf(`{"keys":[{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","n":%q,"e":%q}]}`, b64(key.N.Bytes()), b64(big.NewInt(int64(key.E)).Bytes()))
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, set) }))
	defer jwks.Close()
	s := startServer(t, "", "--jwks-url", jwks.URL, "--jwks-refresh", "1m")
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "ada", "exp": time.Now().Add(time.Hour).Unix(), "rooms": map[string]any{"publish": []string{"general"}}})
	tok.Header["kid"] = "k1"
	signed, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	pub := `{"type":"chat:message","data":{}}`
	if st, b, _ := (cred{bearer: signed}).do(t, "POST", s.URL+"/api/rooms/general/events", pub); st != 201 {
		t.Fatalf("publish with a JWKS-verified token: %d %s", st, b)
	}
	tok.Header["kid"] = "k9"
	signed, _ = tok.SignedString(key)
	if st, b, _ := (cred{bearer: signed}).do(t, "POST", s.URL+"/api/rooms/general/events", pub); st != 401 || !strings.Contains(b, "kid") {
		t.Fatalf("unknown kid: %d %s", st, b)
	}
	if st, _, _ := (cred{}).do(t, "POST", s.URL+"/api/rooms/general/events", pub); st != 401 {
		t.Fatalf("anonymous publish with --jwks-url: %d", st)
	}
}
