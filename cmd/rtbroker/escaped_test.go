package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Room names reach the handlers decoded whether or not the client escaped
// them (browsers' encodeURIComponent writes ':' as %3A and '@' as %40).
func TestEscapedRoomNames(t *testing.T) {
	srv := startServer(t, "", "--anonymous")
	c := &http.Client{}
	for _, path := range []string{"chat%3Ageneral", "chat:general", "ada%40home", "ada@home"} {
		resp, err := c.Post(srv.URL+"/api/rooms/"+path+"/events", "application/json", strings.NewReader(`{"type":"m","data":1}`))
		if err != nil {
			t.Fatal(err)
		}
		var ev struct{ Room string }
		json.NewDecoder(resp.Body).Decode(&ev)
		resp.Body.Close()
		want := strings.NewReplacer("%3A", ":", "%40", "@").Replace(path)
		if resp.StatusCode != http.StatusCreated || ev.Room != want {
			t.Fatalf("POST %s: status %d room %q, want 201 %q", path, resp.StatusCode, ev.Room, want)
		}
	}
	for _, tc := range []struct {
		path   string
		status int
		events int
	}{
		{"chat%3Ageneral", 200, 2},
		{"ada@home", 200, 2},
		{"chat%2Fgeneral", 400, 0}, // a '/' is never part of a room
	} {
		var page struct{ Events []json.RawMessage }
		status, body, err := getJSON(c, srv.URL+"/api/rooms/"+tc.path+"/events", &page)
		if err != nil && tc.status == 200 {
			t.Fatal(err)
		}
		if status != tc.status || len(page.Events) != tc.events {
			t.Fatalf("GET %s: status %d with %d events, want %d with %d: %s", tc.path, status, len(page.Events), tc.status, tc.events, body)
		}
	}
}
