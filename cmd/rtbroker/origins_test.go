package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// do sends method u with hdr and body and returns the status, body and
// headers; a stream's body is not read.
func doReq(t testing.TB, method, u, body string, hdr map[string]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
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

func TestCORS(t *testing.T) {
	const app, evil = "https://app.example.com", "https://evil.example"
	listed := startServer(t, "", "--allowed-origins", app+",http://other.example:8081")
	star := startServer(t, "", "--allowed-origins", "*")
	none := startServer(t, "")
	preflight := func(origin string) map[string]string {
		return map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,idempotency-key"}
	}
	tests := []struct {
		name, method, path string
		srv                *testServer
		hdr                map[string]string
		wantStatus         int
		wantCode           string
		wantOrigin         string // Access-Control-Allow-Origin; "" for none
		wantVary           bool
	}{
		{name: "preflight publish", srv: listed, method: "OPTIONS", path: "/api/rooms/general/events", hdr: preflight(app), wantStatus: 204, wantOrigin: app, wantVary: true},
		{name: "preflight sse", srv: listed, method: "OPTIONS", path: "/sse?room=general", hdr: preflight("http://other.example:8081"), wantStatus: 204, wantOrigin: "http://other.example:8081", wantVary: true},
		{name: "preflight poll", srv: listed, method: "OPTIONS", path: "/poll?room=general", hdr: preflight(app), wantStatus: 204, wantOrigin: app, wantVary: true},
		{name: "preflight null origin", srv: star, method: "OPTIONS", path: "/api/rooms/general/events", hdr: preflight("null"), wantStatus: 403, wantCode: "forbidden", wantVary: true},
		{name: "star echoes origin", srv: star, method: "OPTIONS", path: "/sse?room=general", hdr: preflight(evil), wantStatus: 204, wantOrigin: evil, wantVary: true},
		{name: "get history allowed", srv: listed, method: "GET", path: "/api/rooms/general/events", hdr: map[string]string{"Origin": app}, wantStatus: 200, wantOrigin: app, wantVary: true},
		{name: "poll allowed", srv: listed, method: "GET", path: "/poll?room=general&timeout=0", hdr: map[string]string{"Origin": app}, wantStatus: 200, wantOrigin: app, wantVary: true},
		{name: "publish allowed", srv: listed, method: "POST", path: "/api/rooms/general/events", hdr: map[string]string{"Origin": app, "Content-Type": "application/json"}, wantStatus: 201, wantOrigin: app, wantVary: true},
		{name: "socket.io polling allowed", srv: listed, method: "GET", path: "/socket.io/?EIO=4&transport=polling", hdr: map[string]string{"Origin": app}, wantStatus: 200, wantOrigin: app, wantVary: true},
		{name: "socket.io polling, star echoes origin", srv: star, method: "GET", path: "/socket.io/?EIO=4&transport=polling", hdr: map[string]string{"Origin": evil}, wantStatus: 200, wantOrigin: evil, wantVary: true},
		{name: "socket.io polling other origin", srv: listed, method: "GET", path: "/socket.io/?EIO=4&transport=polling", hdr: map[string]string{"Origin": evil}, wantStatus: 200, wantVary: true},
		{name: "socket.io preflight", srv: listed, method: "OPTIONS", path: "/socket.io/?EIO=4&transport=polling", hdr: preflight(app), wantStatus: 204, wantOrigin: app, wantVary: true},
		{name: "socket.io preflight null origin", srv: star, method: "OPTIONS", path: "/socket.io/?EIO=4&transport=polling", hdr: preflight("null"), wantStatus: 403, wantCode: "forbidden", wantVary: true},
		{name: "socket.io polling, empty list: no headers", srv: none, method: "GET", path: "/socket.io/?EIO=4&transport=polling", hdr: map[string]string{"Origin": app}, wantStatus: 200},
		{name: "empty list: no headers", srv: none, method: "GET", path: "/api/rooms/general/events", hdr: map[string]string{"Origin": app}, wantStatus: 200},
		{name: "empty list: no preflight", srv: none, method: "OPTIONS", path: "/api/rooms/general/events", hdr: preflight(app), wantStatus: 405, wantCode: "method_not_allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := ""
			if tc.method == "POST" {
				body = `{"type":"t","data":1}`
			}
			status, got, h := doReq(t, tc.method, tc.srv.URL+tc.path, body, tc.hdr)
			if status != tc.wantStatus || errCode(got) != tc.wantCode {
				t.Fatalf("got %d %s, want %d %q", status, got, tc.wantStatus, tc.wantCode)
			}
			if o := h.Get("Access-Control-Allow-Origin"); o != tc.wantOrigin {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", o, tc.wantOrigin)
			}
			if tc.wantOrigin != "" && h.Get("Access-Control-Allow-Credentials") != "true" {
				t.Errorf("no Access-Control-Allow-Credentials: %v", h)
			}
			if vary := strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin"); vary != tc.wantVary {
				t.Errorf("Vary = %q, want Origin: %v", h.Values("Vary"), tc.wantVary)
			}
			if status == 204 {
				if m := h.Get("Access-Control-Allow-Methods"); m != "GET, POST, PATCH, DELETE" {
					t.Errorf("Allow-Methods = %q", m)
				}
				for _, want := range []string{"Authorization", "Content-Type", "Idempotency-Key", "X-API-Key", "Last-Event-ID"} {
					if !strings.Contains(h.Get("Access-Control-Allow-Headers"), want) {
						t.Errorf("Allow-Headers %q lacks %s", h.Get("Access-Control-Allow-Headers"), want)
					}
				}
			}
		})
	}
	// A refused preflight leaves the server serving good clients, quietly.
	if status, _, _ := doReq(t, "POST", listed.URL+"/api/rooms/general/events", `{"type":"t","data":2}`, map[string]string{"Origin": app}); status != 201 {
		t.Fatalf("publish after refusals: %d", status)
	}
	for _, s := range []*testServer{listed, star, none} {
		if logs := s.logs.String(); strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "level=WARN") {
			t.Errorf("unexpected log:\n%s", logs)
		}
	}
}

// TestWebSocketOrigin: a WebSocket upgrade (which CORS does not cover)
// from a page of another site is refused unless its origin is listed.
func TestWebSocketOrigin(t *testing.T) {
	const app, evil = "https://app.example.com", "https://evil.example"
	listed := startServer(t, "", "--allowed-origins", app)
	star := startServer(t, "", "--allowed-origins", "*")
	none := startServer(t, "")
	tests := []struct {
		name       string
		srv        *testServer
		origin     string // "self": the server's own origin
		wantStatus int
	}{
		{name: "no Origin (not a browser page)", srv: none, wantStatus: 101},
		{name: "same origin", srv: none, origin: "self", wantStatus: 101},
		{name: "listed origin", srv: listed, origin: app, wantStatus: 101},
		{name: "any origin with *", srv: star, origin: evil, wantStatus: 101},
		{name: "null origin with *", srv: star, origin: "null", wantStatus: 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			switch tc.origin {
			case "":
			case "self":
				h.Set("Origin", tc.srv.URL)
			default:
				h.Set("Origin", tc.origin)
			}
			ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(tc.srv.URL, "http")+"/socket.io/?EIO=4&transport=websocket", h)
			if ws != nil {
				ws.Close()
			}
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("upgrade answered %d, want %d (%v)", resp.StatusCode, tc.wantStatus, err)
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	const app = "https://app.example.com"
	s := startServer(t, "", "--jwt-secret", testSecret, "--api-key", testAPIKey, "--allowed-origins", app)
	ada := mint(t, "ada", nil)
	host := strings.TrimPrefix(s.URL, "http://")
	cookie := "rtbroker_token=" + ada
	tests := []struct {
		name       string
		hdr        map[string]string
		wantStatus int
		wantCode   string
	}{
		{name: "cookie cross-site referer", hdr: map[string]string{"Cookie": cookie, "Referer": "https://evil.example/page"}, wantStatus: 403, wantCode: "forbidden"},
		{name: "cookie null origin", hdr: map[string]string{"Cookie": cookie, "Origin": "null"}, wantStatus: 403, wantCode: "forbidden"},
		{name: "cookie same port other host", hdr: map[string]string{"Cookie": cookie, "Origin": "http://evil.example:" + host[strings.LastIndex(host, ":")+1:]}, wantStatus: 403, wantCode: "forbidden"},
		{name: "cookie same origin", hdr: map[string]string{"Cookie": cookie, "Origin": "http://" + host}, wantStatus: 201},
		{name: "cookie same origin referer", hdr: map[string]string{"Cookie": cookie, "Referer": "http://" + host + "/index.html"}, wantStatus: 201},
		{name: "cookie allowed origin", hdr: map[string]string{"Cookie": cookie, "Origin": app}, wantStatus: 201},
		{name: "cookie no origin no referer", hdr: map[string]string{"Cookie": cookie}, wantStatus: 201},
		{name: "bearer cross-site", hdr: map[string]string{"Authorization": "Bearer " + ada, "Origin": "https://evil.example"}, wantStatus: 201},
		{name: "api key cross-site", hdr: map[string]string{"X-API-Key": testAPIKey, "Origin": "https://evil.example"}, wantStatus: 201},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.hdr["Content-Type"] = "application/json"
			status, body, _ := doReq(t, "POST", s.URL+"/api/rooms/general/events", `{"type":"t","data":1}`, tc.hdr)
			if status != tc.wantStatus || errCode(body) != tc.wantCode {
				t.Fatalf("got %d %s, want %d %q", status, body, tc.wantStatus, tc.wantCode)
			}
			if status == 403 && !strings.Contains(body, "cross-site request") {
				t.Errorf("message: %s", body)
			}
		})
	}
	// Reading with the cookie cross-site is not state-changing: allowed.
	if status, _, _ := doReq(t, "GET", s.URL+"/api/rooms/general/events", "", map[string]string{"Cookie": cookie, "Origin": "https://evil.example"}); status != 200 {
		t.Errorf("cross-site history read: %d", status)
	}
	logs := s.logs.String()
	for _, secret := range []string{testSecret, testAPIKey, ada} {
		if strings.Contains(logs, secret) {
			t.Errorf("a secret was logged")
		}
	}
	if strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "level=WARN") {
		t.Errorf("unexpected log:\n%s", logs)
	}
}
