package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rtbroker/rtbroker/gateways/httpapi"
)

// TestPublishPath checks which decoded paths the publish fast path takes;
// every other one goes to chi, which answers as before.
func TestPublishPath(t *testing.T) {
	for _, tc := range []struct {
		path string
		room string
		ok   bool
	}{
		{"/api/rooms/general/events", "general", true},
		{"/api/rooms/chat:general/events", "chat:general", true},
		{"/api/rooms//events", "", false},
		{"/api/rooms/a/b/events", "", false},
		{"/api/rooms/general/events/", "", false},
		{"/api/rooms/general/eventsx", "", false},
		{"/api/rooms/general", "", false},
		{"/api/roomsx/general/events", "", false},
		{"/api/rooms/general/read", "", false},
	} {
		room, ok := httpapi.PublishPath(tc.path)
		if room != tc.room || ok != tc.ok {
			t.Errorf("PublishPath(%q) = %q, %v; want %q, %v", tc.path, room, ok, tc.room, tc.ok)
		}
	}
}

// TestPublishRouteAnswers checks that publishes the fast path does not
// take get chi's answers, and that the ones it takes answer as chi's
// route did (400 for an empty room, 405 for another
// method on the route, a CORS preflight, a 201 with its Location).
func TestPublishRouteAnswers(t *testing.T) {
	srv := startServer(t, "", "--anonymous", "--allowed-origins", "https://app.example")
	for _, tc := range []struct {
		method, path string
		header       map[string]string
		status       int
		wantHeader   map[string]string
	}{
		{"POST", "/api/rooms/r1/events", nil, 201, map[string]string{"Location": "/api/rooms/r1/events?after=0&limit=1", "Content-Type": "application/json", "Vary": "Origin"}},
		{"POST", "/api/rooms/r1/events", map[string]string{"Origin": "https://app.example"}, 201, map[string]string{"Access-Control-Allow-Origin": "https://app.example"}},
		{"POST", "/api/rooms//events", nil, 400, nil}, // chi's {room} matches "": an invalid room
		{"PUT", "/api/rooms/r1/events", nil, 405, nil},
		{"OPTIONS", "/api/rooms/r1/events", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}, 204, map[string]string{"Access-Control-Allow-Origin": "https://app.example"}},
	} {
		req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(`{"type":"m","data":1}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
		for k, v := range tc.wantHeader {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s %s: %s %q, want %q", tc.method, tc.path, k, got, v)
			}
		}
	}
}
