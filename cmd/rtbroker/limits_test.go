package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestPublishRateLimit(t *testing.T) {
	s := startServer(t, "", "--jwt-secret", testSecret, "--api-key", testAPIKey, "--publish-rate", "1/h", "--publish-burst", "2")
	ada, bob := mint(t, "ada", nil), mint(t, "bob", nil)
	pub := `{"type":"t","data":1}`
	u := s.URL + "/api/rooms/general/events"
	tests := []struct {
		name       string
		cred       cred
		wantStatus int
		wantCode   string
	}{
		{name: "ada 1", cred: cred{bearer: ada}, wantStatus: 201},
		{name: "ada 2", cred: cred{bearer: ada}, wantStatus: 201},
		{name: "ada over", cred: cred{bearer: ada}, wantStatus: 429, wantCode: "rate_limited"},
		{name: "ada by cookie shares the bucket", cred: cred{cookie: ada}, wantStatus: 429, wantCode: "rate_limited"},
		{name: "bob has his own", cred: cred{bearer: bob}, wantStatus: 201},
		{name: "api key exempt 1", cred: cred{apiKey: testAPIKey}, wantStatus: 201},
		{name: "api key exempt 2", cred: cred{apiKey: testAPIKey}, wantStatus: 201},
		{name: "api key exempt 3", cred: cred{apiKey: testAPIKey}, wantStatus: 201},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, h := tc.cred.do(t, "POST", u, pub)
			if status != tc.wantStatus || errCode(body) != tc.wantCode {
				t.Fatalf("got %d %s, want %d %q", status, body, tc.wantStatus, tc.wantCode)
			}
			if status == 429 && h.Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
		})
	}
	if logs := s.logs.String(); strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "level=WARN") || strings.Contains(logs, ada) {
		t.Errorf("unexpected log:\n%s", logs)
	}
}

func TestMaxConnsPerIP(t *testing.T) {
	s := startServer(t, "", "--max-conns-per-ip", "1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := openSSE(ctx, newStreamClient(), s.URL+"/sse?room=general", "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		wantStatus int
		wantInBody string
	}{
		{name: "second sse", path: "/sse?room=general", wantStatus: 429, wantInBody: `"rate_limited"`},
		{name: "poll", path: "/poll?room=general&timeout=0", wantStatus: 429, wantInBody: `"rate_limited"`},
		{name: "engine.io handshake", path: "/socket.io/?EIO=4&transport=polling", wantStatus: 429, wantInBody: `"Too many connections"`},
		{name: "publish is not a connection", path: "", wantStatus: 201},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method, path, body := "GET", tc.path, ""
			if path == "" {
				method, path, body = "POST", "/api/rooms/general/events", `{"type":"t","data":1}`
			}
			status, got, _ := doReq(t, method, s.URL+path, body, map[string]string{"Content-Type": "application/json"})
			if status != tc.wantStatus || !strings.Contains(got, tc.wantInBody) {
				t.Fatalf("got %d %s, want %d %s", status, got, tc.wantStatus, tc.wantInBody)
			}
		})
	}
	// Once the stream ends, the IP's slot is free again.
	stream.close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body, _ := doReq(t, "GET", s.URL+"/poll?room=general&timeout=0", "", nil)
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not released: %d %s", status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if logs := s.logs.String(); strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "level=WARN") {
		t.Errorf("unexpected log:\n%s", logs)
	}
}
