package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestIdleTimeout checks --idle-timeout on each path a keep-alive
// connection can wait on between requests: net/http's (an API read), the
// front's (after a publish it answered) and the Engine.IO poller's (a
// Socket.IO polling POST's connection). Each is closed once idle for the
// timeout, without an answer; with the default (2m) none would be within
// the test's 10 s.
func TestIdleTimeout(t *testing.T) {
	s := startServer(t, "", "--idle-timeout", "1s", "--api-key", testAPIKey)
	addr := strings.TrimPrefix(s.URL, "http://")
	tests := []struct {
		name string
		reqs func(sid string) []string // the requests sent, in order, on one connection
	}{
		{"API read", func(string) []string {
			return []string{"GET /api/rooms/idle/events?after=0 HTTP/1.1\r\nHost: x\r\nX-API-Key: " + testAPIKey + "\r\n\r\n"}
		}},
		{"publish", func(string) []string {
			body := `{"type":"t","data":1}`
			return []string{"POST /api/rooms/idle/events HTTP/1.1\r\nHost: x\r\nX-API-Key: " + testAPIKey +
				"\r\nContent-Type: application/json\r\nContent-Length: 21\r\n\r\n" + body}
		}},
		{"Socket.IO polling POST", func(sid string) []string {
			return []string{"POST /socket.io/?EIO=4&transport=polling&sid=" + sid + " HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n40"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sid := pollingHandshake(t, context.Background(), http.DefaultClient, s.URL)
			if sid == "" {
				t.Fatal("no polling session")
			}
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for _, req := range tc.reqs(sid) {
				if _, err := io.WriteString(c, req); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 300 || resp.Close {
					t.Fatalf("answer %d (close %v), want a success on a kept-alive connection", resp.StatusCode, resp.Close)
				}
			}
			idle := time.Now()
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := br.ReadByte()
			if took := time.Since(idle); err == nil || errors.Is(err, io.ErrNoProgress) {
				t.Fatalf("read %q after %v, want the connection closed", n, took)
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("still open after %v idle, want it closed after --idle-timeout (1s)", took)
			} else if took < 500*time.Millisecond {
				t.Fatalf("closed %v after the last answer (%v), before --idle-timeout", took, err)
			}
		})
	}
}
