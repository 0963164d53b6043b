package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Raw publishes: the hostile-input table of publish requests as bytes on
// one connection. The front (gateways/front) serves plain publishes
// itself and leaves every head it is not sure of to net/http; each row
// checks the answers, in order, whether the server then closes the
// connection, and how many events were committed, so that no request is
// read one way by the front and another by net/http (two requests where
// the client sent one, a body taken for a request).
func TestHostileRawPublish(t *testing.T) {
	ada := userToken(t, "ada", nil)
	pub := `{"type":"msg","data":{"text":"hi"}}`
	const path = "/api/rooms/general/events"
	head := func(extra string, length int) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n", path, ada, extra, length)
	}
	publish := head("", len(pub)) + pub
	chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(pub), pub)
	for _, tc := range []struct {
		name       string
		send       []string // written in turn
		wantStatus []int
		wantClosed bool // the server closes the connection after the answers
		wantEvents int
	}{
		{name: "two publishes in one write", send: []string{publish + publish}, wantStatus: []int{201, 201}, wantEvents: 2},
		{name: "a publish, then a history read on the same connection", send: []string{publish, fmt.Sprintf("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n", path, ada)}, wantStatus: []int{201, 200}, wantEvents: 1},
		{name: "a head sent a byte at a time", send: strings.Split(publish, ""), wantStatus: []int{201}, wantEvents: 1},
		{name: "a head over 4 KB", send: []string{head("X-Pad: "+strings.Repeat("p", 5000)+"\r\n", len(pub)) + pub}, wantStatus: []int{201}, wantEvents: 1},
		{name: "HTTP/1.0", send: []string{strings.Replace(publish, "HTTP/1.1", "HTTP/1.0", 1)}, wantStatus: []int{201}, wantClosed: true, wantEvents: 1},
		{name: "chunked body", send: []string{strings.Replace(head("Transfer-Encoding: chunked\r\n", 0), "Content-Length: 0\r\n", "", 1) + chunked}, wantStatus: []int{201}, wantEvents: 1},
		{name: "Content-Length and Transfer-Encoding: chunked (net/http reads the chunks)", send: []string{head("Transfer-Encoding: chunked\r\n", len(chunked)) + chunked}, wantStatus: []int{201}, wantEvents: 1},
		{name: "two different Content-Lengths", send: []string{head("Content-Length: 3\r\n", len(pub)) + pub}, wantStatus: []int{400}, wantClosed: true},
		{name: "a negative Content-Length", send: []string{head("", -1) + pub}, wantStatus: []int{400}, wantClosed: true},
		{name: "a folded header line (net/http unfolds it)", send: []string{head("X-A: a\r\n b\r\n", len(pub)) + pub}, wantStatus: []int{201}, wantEvents: 1},
		{name: "no Host", send: []string{strings.Replace(publish, "Host: 127.0.0.1\r\n", "", 1)}, wantStatus: []int{400}, wantClosed: true},
		{name: "two Hosts", send: []string{head("Host: 127.0.0.2\r\n", len(pub)) + pub}, wantStatus: []int{400}, wantClosed: true},
		{name: "Expect: 100-continue", send: []string{head("Expect: 100-continue\r\n", len(pub)) + pub}, wantStatus: []int{100, 201}, wantEvents: 1},
		{name: "a body longer than its Content-Length (the rest is not a request)", send: []string{head("", len(pub)) + pub + "GARBAGE\r\n\r\n"}, wantStatus: []int{201, 400}, wantClosed: true, wantEvents: 1},
		{name: "a publish without its token's right, then a good one", send: []string{strings.Replace(publish, "general", "ops", 1), publish}, wantStatus: []int{403}, wantClosed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newHostileEnv(t, "front")
			c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			for _, s := range tc.send {
				if _, err := io.WriteString(c, s); err != nil {
					t.Fatal(err)
				}
			}
			br := bufio.NewReader(c)
			for i, want := range tc.wantStatus {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("answer %d: %v", i+1, err)
				}
				io.ReadAll(resp.Body)
				if resp.StatusCode != want {
					t.Fatalf("answer %d: %s, want %d", i+1, resp.Status, want)
				}
			}
			c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			_, err = br.ReadByte()
			closed := err == io.EOF || err != nil && strings.Contains(err.Error(), "reset")
			if closed != tc.wantClosed {
				t.Errorf("closed after the answers: %v (%v), want %v", closed, err, tc.wantClosed)
			}
			if got := countEvents(t, e.srv.URL, "general"); got != tc.wantEvents {
				t.Errorf("%d events committed, want %d", got, tc.wantEvents)
			}
			e.checkQuiet(t)
		})
	}
}

// countEvents returns how many events room holds, read with the API key.
func countEvents(t *testing.T, base, room string) int {
	t.Helper()
	status, body, _ := send(t, newClient(), hreq{method: "GET", url: base + "/api/rooms/" + room + "/events?after=0&limit=1000", cred: cred{apiKey: testAPIKey}})
	var page struct{ Events []json.RawMessage }
	if status != 200 || json.Unmarshal([]byte(body), &page) != nil {
		t.Fatalf("history of %s: %d %.300s", room, status, body)
	}
	return len(page.Events)
}
