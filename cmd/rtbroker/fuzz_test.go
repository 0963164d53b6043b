package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fuzzTimeout bounds each fuzzed exchange; it cuts SSE streams and
// long-polls short.
const fuzzTimeout = 300 * time.Millisecond

// fuzzServer starts the server every fuzz target shares: a JWT secret and
// anonymous access both on, so that tokens are parsed and anonymous
// publishes reach the body parsers; no per-IP limits (the fuzzer is one IP).
func fuzzServer(f *testing.F) *testServer {
	return startServer(f, "", "--jwt-secret", "fuzz-secret-0123456789abcdef0123", "--anonymous",
		"--max-conns-per-ip", "0", "--poll-timeout", "50ms", "--sse-heartbeat", "50ms", "--sio-ping-interval", "50ms")
}

// FuzzRequest sends arbitrary requests — method, path, query, headers and
// body — to a running server: every parser a client reaches without
// credentials (routing, room names, offsets, epochs, limits, tokens in a
// header, cookie or query, CORS and CSRF checks, publish bodies, Engine.IO
// handshakes). No request may fail with a 500 or an error that is not the
// documented JSON body, and the server keeps serving.
func FuzzRequest(f *testing.F) {
	seeds := []struct {
		method, path, query, headers string
		body                         []byte
	}{
		{"POST", "api/rooms/lobby/events", "", "Content-Type: application/json", []byte(`{"type":"chat","data":{"t":1}}`)},
		{"POST", "api/rooms/lobby/events", "", "Content-Type: application/json\nIdempotency-Key: k1", []byte(`[{"type":"a","data":1},{"type":"b","data":"x"}]`)},
		{"POST", "api/rooms/lobby/events", "", "Content-Type: application/json", []byte(`{"type":"typing","data":{},"ephemeral":true}`)},
		{"GET", "api/rooms/lobby/events", "after=0&limit=10", "", nil},
		{"GET", "api/rooms/lobby/events", "before=5&limit=2", "Authorization: Bearer e30.e30.e30", nil},
		{"GET", "api/rooms", "", "Cookie: rtbroker_token=abc", nil},
		{"GET", "sse", "room=lobby&room=b&after=0", "Last-Event-ID: 3", nil},
		{"GET", "poll", "room=lobby&after=1&timeout=10ms&epoch=01ABC", "", nil},
		{"OPTIONS", "api/rooms/lobby/events", "", "Origin: http://evil.example\nAccess-Control-Request-Method: POST", nil},
		{"GET", "socket.io/", "EIO=4&transport=polling", "", nil},
		{"GET", "api/backup", "token=x", "X-API-Key: nope", nil},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.headers, s.body)
	}
	srv := fuzzServer(f)
	client := &http.Client{}
	f.Fuzz(func(t *testing.T, method, path, query, headers string, body []byte) {
		target := srv.URL + "/" + path
		if query != "" {
			target += "?" + query
		}
		ctx, cancel := context.WithTimeout(context.Background(), fuzzTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		for _, line := range strings.Split(headers, "\n") {
			name, value, ok := strings.Cut(line, ":")
			if ok {
				req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			return // refused by the client library, or cut by the timeout
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			return // a stream cut by the timeout
		}
		checkFuzzResponse(t, req, resp, got)
		checkAlive(t, srv)
	})
}

// FuzzSocketIOPolling opens an Engine.IO polling session and posts an
// arbitrary payload to it: Engine.IO framing, Socket.IO packets, CONNECT
// auth (token, pid, offset), room:join and publish arguments.
func FuzzSocketIOPolling(f *testing.F) {
	for _, s := range []string{
		"40",
		`40{"token":"e30.e30.e30"}`,
		`40{"pid":"0123456789abcdef0123456789abcdef","offset":"c1.5"}`,
		"40\x1e42[\"room:join\",{\"room\":\"lobby\",\"after\":\"0\"}]",
		"40\x1e420[\"chat\",{\"room\":\"lobby\",\"text\":\"hi\"}]",
		"40/admin,{}\x1e42/admin,1[\"room:leave\",{\"room\":\"x\"}]",
		"451-[\"chat\",{\"room\":\"lobby\",\"b\":{\"_placeholder\":true,\"num\":0}}]\x1ebAQID",
		"3probe\x1e2\x1e6\x1e1",
	} {
		f.Add([]byte(s))
	}
	srv := fuzzServer(f)
	client := &http.Client{}
	f.Fuzz(func(t *testing.T, payload []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), fuzzTimeout)
		defer cancel()
		sid := pollingHandshake(t, ctx, client, srv.URL)
		if sid == "" {
			return
		}
		base := srv.URL + "/socket.io/?EIO=4&transport=polling&sid=" + url.QueryEscape(sid)
		post, err := http.NewRequestWithContext(ctx, "POST", base, bytes.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		post.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		if resp, err := client.Do(post); err == nil {
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			checkFuzzResponse(t, post, resp, got)
		}
		if get, err := http.NewRequestWithContext(ctx, "GET", base, nil); err == nil {
			if resp, err := client.Do(get); err == nil {
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				checkFuzzResponse(t, get, resp, got)
			}
		}
		// End the session so that sessions do not pile up until their
		// heartbeat times out.
		if end, err := http.NewRequest("POST", base, strings.NewReader("1")); err == nil {
			if resp, err := client.Do(end); err == nil {
				resp.Body.Close()
			}
		}
		checkAlive(t, srv)
	})
}

// pollingHandshake opens an Engine.IO polling session and returns its sid
// ("" when the server refused it, e.g. while shutting down).
func pollingHandshake(t *testing.T, ctx context.Context, client *http.Client, base string) string {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/socket.io/?EIO=4&transport=polling", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || len(got) == 0 || got[0] != '0' {
		t.Fatalf("handshake: %d %q", resp.StatusCode, got)
	}
	var open struct{ SID string }
	if err := json.Unmarshal(got[1:], &open); err != nil || open.SID == "" {
		t.Fatalf("handshake: %q", got)
	}
	return open.SID
}

// checkFuzzResponse fails on a 500 and on an error response whose body is
// not the documented JSON: {"error": {"code", "message"}} for the HTTP
// interfaces, {"code", "message"} for Engine.IO (the Socket.IO protocol's
// own error form).
func checkFuzzResponse(t *testing.T, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL, resp.StatusCode, body)
	}
	if resp.StatusCode < 400 || req.Method == http.MethodHead {
		return
	}
	if resp.StatusCode == http.StatusBadRequest && strings.HasPrefix(string(body), "400 Bad Request") {
		return // net/http's own answer to a malformed request line or header, before any handler
	}
	if strings.HasPrefix(req.URL.Path, "/socket.io/") {
		var e struct {
			Code    *int
			Message string
		}
		if json.Unmarshal(body, &e) != nil || e.Code == nil || e.Message == "" {
			t.Fatalf("%s %s: %d with body %q, want Engine.IO's {code, message}", req.Method, req.URL, resp.StatusCode, body)
		}
		return
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("%s %s: %d with body %q, want {\"error\": {code, message}}", req.Method, req.URL, resp.StatusCode, body)
	}
}

// checkAlive fails unless the server still answers /healthz.
func checkAlive(t *testing.T, srv *testServer) {
	t.Helper()
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatalf("server gone: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
}
