package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// shortToken mints a token for sub that expires in about two seconds
// (exp has whole seconds) and returns it with its exp.
func shortToken(t testing.TB, sub string) (string, time.Time) {
	t.Helper()
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second)
	return mint(t, sub, func(c jwt.MapClaims) { c["exp"] = exp.Unix() }), exp
}

// apiPublish publishes with the test API key and fails unless committed.
func apiPublish(t testing.TB, c *http.Client, base, room, data string) wireEvent {
	t.Helper()
	r, err := publish(c, base, room, "chat:message", []byte(data), "X-API-Key", testAPIKey)
	if err != nil || r.status != http.StatusCreated {
		t.Fatalf("publish to %s: status %d, body %s, err %v", room, r.status, r.body, err)
	}
	return r.ev
}

func TestSSEEndsWhenTokenExpires(t *testing.T) {
	s := startServer(t, "", "--jwt-secret", testSecret, "--api-key", testAPIKey, "--jwt-leeway", "0", "--sse-heartbeat", "10s")
	c := newClient()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	tok, exp := shortToken(t, "ada")
	st, err := openSSE(ctx, newStreamClient(), s.URL+"/sse?room=general&token="+url.QueryEscape(tok), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	first := apiPublish(t, c, s.URL, "general", `{"n":1}`)
	expectSSE(t, st, []wireEvent{first})

	// The stream ends by itself at exp (leeway 0), long before the next
	// heartbeat, with a retry hint and a `: token expired` comment.
	var last sseFrame
	for {
		f, err := st.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading until the stream ends: %v", err)
		}
		if len(f.data) > 0 {
			t.Fatalf("unexpected event after the first: %+v", f)
		}
		last = f
	}
	ended := time.Now()
	if ended.Before(exp) || ended.After(exp.Add(3*time.Second)) {
		t.Fatalf("stream ended at %v, token expired at %v", ended, exp)
	}
	if !slices.Contains(last.comments, "token expired") || last.retry == "" || last.event != "" {
		t.Fatalf("last frame = %+v, want a retry hint and a `: token expired` comment, no event", last)
	}

	// Published while the client was away.
	missed := []wireEvent{apiPublish(t, c, s.URL, "general", `{"n":2}`), apiPublish(t, c, s.URL, "general", `{"n":3}`)}

	// The expired token no longer opens a stream.
	if _, err := openSSE(ctx, newStreamClient(), s.URL+"/sse?room=general&token="+url.QueryEscape(tok), strconv.FormatUint(first.Offset, 10)); err == nil {
		t.Fatal("expired token opened a stream")
	}

	// A fresh token (here in the cookie) and Last-Event-ID: exactly the
	// missed events, then live ones.
	fresh := mint(t, "ada", nil)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/sse?room=general", nil)
	req.AddCookie(&http.Cookie{Name: "rtbroker_token", Value: fresh})
	req.Header.Set("Last-Event-ID", strconv.FormatUint(first.Offset, 10))
	resp, err := newStreamClient().Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("reconnect: %v %v", err, resp)
	}
	st2 := &sseStream{resp: resp, br: bufio.NewReader(resp.Body), cancel: func() {}}
	defer st2.close()
	expectSSE(t, st2, missed)
	live := apiPublish(t, c, s.URL, "general", `{"n":4}`)
	expectSSE(t, st2, []wireEvent{live})
}

func TestLongPollHoldEndsWhenTokenExpires(t *testing.T) {
	s := startServer(t, "", "--jwt-secret", testSecret, "--api-key", testAPIKey, "--jwt-leeway", "0")
	tok, exp := shortToken(t, "ada")
	start := time.Now()
	p, err := poll(newClient(), s.URL, []string{"general"}, 0, "&timeout=60s&token="+url.QueryEscape(tok))
	if err != nil {
		t.Fatal(err)
	}
	answered := time.Now()
	if len(p.Events) != 0 || answered.Before(exp) || answered.After(exp.Add(3*time.Second)) {
		t.Fatalf("poll started %v answered %v with %d events; token expired %v", start, answered, len(p.Events), exp)
	}
	// A token valid for an hour does not shorten the hold.
	start = time.Now()
	if _, err := poll(newClient(), s.URL, []string{"general"}, 0, "&timeout=1s&token="+url.QueryEscape(mint(t, "ada", nil))); err != nil {
		t.Fatal(err)
	}
	if held := time.Since(start); held < time.Second {
		t.Fatalf("hour-long token: poll held %v, want its 1s timeout", held)
	}
}
