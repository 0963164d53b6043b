package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The hostile-input tables: one per transport — REST
// (TestHostileREST), SSE and long-poll (TestHostileStreams), Socket.IO
// over WebSocket and over polling (TestHostileSocketIO). Each row is a
// kind of hostile input of the security issue's list, with the answer
// the client must get. The tables run against a real server started with
// hostileFlags (a row with flags of its own gets a server of its own,
// so that its limits do not touch the other rows). Hostile clients
// connect from hostileIP and good ones from 127.0.0.1, so the per-IP
// limits are seen to stop the hostile address only. After every row a
// fresh good identity still subscribes and publishes over the same
// transport, and the log, read back with an API key, holds exactly the
// events expected: the good clients' and those the row was allowed to
// publish. Finally the server's log output has no warning, no error and
// no credential.
//
// Rows that do not apply to a transport say why in a comment where they
// would be. Acks beyond --sio-max-pending are refused by
// TestMaxPending in gateways/socketio, which holds commits with an
// injected fault to make the overflow certain.

const (
	hostileIP    = "127.0.0.2" // hostile clients' address (all of 127/8 is loopback)
	testAudience = "rtbroker-test"
	appOrigin    = "https://app.example.com"
	evilOrigin   = "https://evil.example"
)

// hostileFlags configure the servers of the hostile tables: tokens
// required (with an audience), an API key, one allowed origin, small size
// and room limits, and a publish burst of 3 per identity.
var hostileFlags = []string{
	"--jwt-secret", testSecret, "--api-key", testAPIKey, "--jwt-audience", testAudience,
	"--allowed-origins", appOrigin,
	"--max-body-size", "4096", "--max-data-size", "1024", "--sio-max-payload", "4096", "--max-rooms", "4",
	"--publish-rate", "1/h", "--publish-burst", "3",
}

// userToken is a valid token of the hostile tables' servers for sub: it
// may subscribe to general, news:* and user:{sub}, and publish to general
// and user:{sub}; edit adjusts its claims.
func userToken(t testing.TB, sub string, edit func(jwt.MapClaims)) string {
	t.Helper()
	return mint(t, sub, func(c jwt.MapClaims) {
		c["aud"] = testAudience
		if edit != nil {
			edit(c)
		}
	})
}

// badToken is a credential that must be refused with 401, and why.
type badToken struct{ name, token string }

// badTokens are the refused credentials: each differs from a good token
// in one way only.
func badTokens(t testing.TB) []badToken {
	t.Helper()
	claims := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "eve", "aud": testAudience, "exp": time.Now().Add(time.Hour).Unix(),
			"rooms": map[string]any{"subscribe": []string{"*"}, "publish": []string{"*"}}}
	}
	sign := func(m jwt.SigningMethod, key any) string {
		s, err := jwt.NewWithClaims(m, claims()).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return []badToken{
		{"bad signature", sign(jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef"))},
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType)},
		{"wrong alg", sign(jwt.SigningMethodHS512, []byte(testSecret))}, // the server pins HS256
		{"expired", userToken(t, "eve", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })},
		{"not yet valid", userToken(t, "eve", func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })},
		{"wrong audience", userToken(t, "eve", func(c jwt.MapClaims) { c["aud"] = "another-service" })},
		{"reserved subject api", userToken(t, "api", nil)},
		{"reserved subject in upper case", userToken(t, "API", nil)},
		{"reserved subject with a trailing space", userToken(t, "api ", nil)},
		{"anonymous subject in another case", userToken(t, "Anonymous:x", nil)},
		{"exp as a JSON string", userToken(t, "eve", func(c jwt.MapClaims) { c["exp"] = fmt.Sprint(time.Now().Add(time.Hour).Unix()) })},
		{"crit header", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims())
			tok.Header["crit"] = []string{"exp"}
			s, err := tok.SignedString([]byte(testSecret))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}()},
		{"not a JWT", "not.a.jwt"},
	}
}

// hostileEnv is one server of a hostile table and what its log must hold.
type hostileEnv struct {
	srv     *testServer
	expect  []string // events the log must hold, as logKey
	goods   int      // good identities used so far
	table   string   // prefix of good identities
	secrets []string // must never be logged

	vars map[string]string // set by a row's before step: "{name}" in its url and body is replaced (expand)
}

func newHostileEnv(t *testing.T, table string, flags ...string) *hostileEnv {
	t.Helper()
	return &hostileEnv{srv: startServer(t, "", append(slices.Clone(hostileFlags), flags...)...), table: table}
}

// goodSub returns a new good identity (each has its own publish bucket).
func (e *hostileEnv) goodSub() string {
	e.goods++
	return fmt.Sprintf("good-%s-%d", e.table, e.goods)
}

// logKey names an event for the log check.
func logKey(room, typ, from string) string { return room + " " + typ + " " + from }

// checkLog compares the log, read with the API key, with e.expect.
func (e *hostileEnv) checkLog(t *testing.T) {
	t.Helper()
	got := logKeys(t, e.srv.URL)
	want := slices.Clone(e.expect)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the log holds\n  %v\nwant\n  %v", got, want)
	}
}

// checkQuiet fails when the server logged a warning, an error or a
// credential.
func (e *hostileEnv) checkQuiet(t *testing.T) {
	t.Helper()
	logs := e.srv.logs.String()
	if strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "level=WARN") {
		t.Errorf("unexpected log:\n%s", logs)
	}
	for _, s := range append([]string{testSecret, testAPIKey}, e.secrets...) {
		if strings.Contains(logs, s) {
			t.Errorf("a credential was logged:\n%s", logs)
		}
	}
}

// logKeys returns every event of the log's public rooms as logKey,
// sorted.
func logKeys(t testing.TB, base string) []string {
	t.Helper()
	var rooms struct {
		Rooms []struct{ Room string } `json:"rooms"`
	}
	getAPI(t, base+"/api/rooms", &rooms)
	keys := []string{}
	for _, r := range rooms.Rooms {
		var p page
		getAPI(t, base+"/api/rooms/"+url.PathEscape(r.Room)+"/events?after=0&limit=1000", &p)
		for _, ev := range p.Events {
			keys = append(keys, logKey(ev.Room, ev.Type, ev.From))
		}
	}
	slices.Sort(keys)
	return keys
}

// getAPI GETs u with the API key and decodes the 200 answer into v.
func getAPI(t testing.TB, u string, v any) {
	t.Helper()
	status, body, _ := send(t, newClient(), hreq{method: "GET", url: u, cred: cred{apiKey: testAPIKey}})
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, status, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// clientFrom returns an HTTP client whose connections come from ip (no
// overall timeout: streams are bounded by their request's context).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// hreq is one HTTP request of a table: a credential placed as a client
// would place it, extra headers, a body (JSON when set).
type hreq struct {
	method, url, body string
	cred              cred
	hdr               map[string]string
}

// send sends r with c. The body of an answer that starts a stream is not
// read (the stream is closed); the others are returned whole.
func send(t testing.TB, c *http.Client, r hreq) (int, string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := doHTTP(ctx, c, r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp.StatusCode, "", resp.Header
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// doHTTP sends r with c under ctx and returns the response unread.
func doHTTP(ctx context.Context, c *http.Client, r hreq) (*http.Response, error) {
	u := r.url
	if r.cred.query != "" {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "token=" + url.QueryEscape(r.cred.query)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, strings.NewReader(r.body))
	if err != nil {
		return nil, err
	}
	if r.cred.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.cred.bearer)
	}
	if r.cred.apiKey != "" {
		req.Header.Set("X-API-Key", r.cred.apiKey)
	}
	if r.cred.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "rtbroker_token", Value: r.cred.cookie})
	}
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.hdr {
		if k == "Host" {
			req.Host = v // net/http sends req.Host, not a Host header
			continue
		}
		req.Header.Set(k, v)
	}
	return c.Do(req)
}

// placements are the ways an HTTP client presents a token.
var placements = []struct {
	name string
	cred func(tok string) cred
}{
	{"bearer", func(tok string) cred { return cred{bearer: tok} }},
	{"cookie", func(tok string) cred { return cred{cookie: tok} }},
	{"query", func(tok string) cred { return cred{query: tok} }},
}
