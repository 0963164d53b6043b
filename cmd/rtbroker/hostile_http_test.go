package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// httpRow is a hostile HTTP request and the answer it must get (see
// hostile_test.go).
type httpRow struct {
	name  string
	flags []string // the row runs on a server of its own, started with these flags too
	// before runs first (from the hostile address); the func it returns,
	// if any, runs after the row (to end the streams it holds open).
	before     func(t *testing.T, e *hostileEnv) (undo func())
	req        hreq // url is a path; sent from the hostile address
	wantStatus int
	wantCode   string   // error code of the JSON answer; "" when the answer is no JSON error
	wantMsg    string   // part of the error message
	wantHeader string   // a header the answer must carry
	wantNoCORS bool     // the answer must carry no Access-Control-Allow-Origin (the browser hides it)
	logged     []string // events the row may add to the log (logKey)
}

// runHTTPTable runs rows against a server of hostileFlags; good checks
// that a fresh good identity is still served after each row.
func runHTTPTable(t *testing.T, table string, rows []httpRow, secrets []string, good func(t *testing.T, e *hostileEnv)) {
	shared := newHostileEnv(t, table)
	shared.secrets = secrets
	hostile := clientFrom(hostileIP)
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			e := shared
			if row.flags != nil {
				e = newHostileEnv(t, table, row.flags...)
				e.secrets = secrets
			}
			if row.before != nil {
				if undo := row.before(t, e); undo != nil {
					defer undo()
				}
			}
			r := row.req
			r.url = e.srv.URL + e.expand(r.url)
			r.body = e.expand(r.body)
			status, body, h := send(t, hostile, r)
			if status != row.wantStatus || errCode(body) != row.wantCode || !strings.Contains(body, row.wantMsg) {
				t.Fatalf("%s %s: %d %.300s, want %d %q %q", r.method, row.req.url, status, body, row.wantStatus, row.wantCode, row.wantMsg)
			}
			if row.wantCode != "" && !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
				t.Errorf("error answered as %q, want JSON", h.Get("Content-Type"))
			}
			if row.wantHeader != "" && h.Get(row.wantHeader) == "" {
				t.Errorf("no %s header: %v", row.wantHeader, h)
			}
			if row.wantNoCORS && h.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("Access-Control-Allow-Origin %q for %s", h.Get("Access-Control-Allow-Origin"), r.hdr["Origin"])
			}
			for _, s := range secrets {
				if strings.Contains(body, s) {
					t.Fatalf("the answer echoes a credential: %s", body)
				}
			}
			e.expect = append(e.expect, row.logged...)
			good(t, e)
			e.checkLog(t)
			if e != shared {
				e.checkQuiet(t)
			}
		})
	}
	shared.checkQuiet(t)
}

// tableSecrets lists the tokens of a table, which must never be logged
// or echoed.
func tableSecrets(bad []badToken, good ...string) []string {
	out := append([]string{}, good...)
	for _, b := range bad {
		if len(b.token) > 12 {
			out = append(out, b.token)
		}
	}
	return out
}

func TestHostileREST(t *testing.T) {
	ada, flood := userToken(t, "ada", nil), userToken(t, "flood", nil)
	bin := userToken(t, "bin", nil) // the binary rows' publishes have a bucket of their own
	bad := badTokens(t)
	const events = "/api/rooms/general/events"
	pub := `{"type":"chat:message","data":{"text":"hi"}}`
	rows := []httpRow{
		{name: "publish without a token", req: hreq{method: "POST", url: events, body: pub}, wantStatus: 401, wantCode: "unauthorized", wantHeader: "WWW-Authenticate"},
		{name: "history without a token", req: hreq{method: "GET", url: events}, wantStatus: 401, wantCode: "unauthorized", wantHeader: "WWW-Authenticate"},
	}
	for _, b := range bad {
		for _, p := range placements {
			rows = append(rows,
				httpRow{name: b.name + " in the " + p.name + ": publish", req: hreq{method: "POST", url: events, body: pub, cred: p.cred(b.token)}, wantStatus: 401, wantCode: "unauthorized"},
				httpRow{name: b.name + " in the " + p.name + ": history", req: hreq{method: "GET", url: events, cred: p.cred(b.token)}, wantStatus: 401, wantCode: "unauthorized"},
			)
		}
	}
	rows = append(rows, []httpRow{
		{name: "token for another room: history", req: hreq{method: "GET", url: "/api/rooms/ops/events", cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden"},
		{name: "publish without permission", req: hreq{method: "POST", url: "/api/rooms/news:x/events", body: pub, cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden"},
		{name: "presence without a token", req: hreq{method: "GET", url: "/api/rooms/general/presence"}, wantStatus: 401, wantCode: "unauthorized"},
		{name: "presence of another room", req: hreq{method: "GET", url: "/api/rooms/ops/presence", cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden"},
		{name: "presence of a bad room name", req: hreq{method: "GET", url: "/api/rooms/bad!room/presence", cred: cred{bearer: ada}}, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "forged presence event", req: hreq{method: "POST", url: events, body: `{"type":"presence:leave","data":{"user":"bob","count":0},"ephemeral":true}`, cred: cred{bearer: userToken(t, "presence-forger", nil)}}, wantStatus: 400, wantCode: "invalid_argument", wantMsg: "reserved"},
		{name: "typing:start in a batch", req: hreq{method: "POST", url: events, body: `[{"type":"typing:start","data":{}}]`, cred: cred{bearer: userToken(t, "typing-batcher", nil)}}, wantStatus: 400, wantCode: "invalid_argument", wantMsg: "typing:start is ephemeral"},
		{name: "typing:start without permission", req: hreq{method: "POST", url: "/api/rooms/news:x/events", body: `{"type":"typing:start","data":{},"ephemeral":true}`, cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden"},
		{name: "another pair's direct messages: publish", req: hreq{method: "POST", url: "/api/rooms/dm:bob:eve/events", body: pub, cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden", wantMsg: "two users only"},
		{name: "another pair's direct messages: history", req: hreq{method: "GET", url: "/api/rooms/dm:bob:eve/events", cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden", wantMsg: "two users only"},
		{
			name: "typists over --max-typists", flags: []string{"--max-typists", "1"},
			before:     repeat(1, hreq{method: "POST", url: events, body: `{"type":"typing:start","data":{}}`, cred: cred{bearer: ada}}, 202),
			req:        hreq{method: "POST", url: "/api/rooms/user:ada/events", body: `{"type":"typing:start","data":{}}`, cred: cred{bearer: ada}},
			wantStatus: 429, wantCode: "rate_limited", wantMsg: "too many typists", wantHeader: "Retry-After",
		},
		{name: "cross-origin publish with the cookie", req: hreq{method: "POST", url: events, body: pub, cred: cred{cookie: ada}, hdr: map[string]string{"Origin": evilOrigin}}, wantStatus: 403, wantCode: "forbidden", wantMsg: "cross-site request"},
		{name: "cross-origin preflight", req: hreq{method: "OPTIONS", url: events, hdr: map[string]string{"Origin": evilOrigin, "Access-Control-Request-Method": "POST"}}, wantStatus: 403, wantCode: "forbidden", wantMsg: "origin not allowed"},
		{name: "cross-origin read", req: hreq{method: "GET", url: events, cred: cred{bearer: ada}, hdr: map[string]string{"Origin": evilOrigin}}, wantStatus: 200, wantNoCORS: true},
		{name: "body over --max-body-size", req: hreq{method: "POST", url: events, body: `{"type":"t","data":"` + strings.Repeat("x", 5000) + `"}`, cred: cred{bearer: ada}}, wantStatus: 413, wantCode: "too_large"},
		{name: "data over --max-data-size", req: hreq{method: "POST", url: events, body: `{"type":"t","data":"` + strings.Repeat("x", 2000) + `"}`, cred: cred{bearer: ada}}, wantStatus: 413, wantCode: "too_large"},
		{name: "bad base64 in a $binary object", req: hreq{method: "POST", url: events, body: `{"type":"t","data":{"bin":{"$binary":"!!!!"}}}`, cred: cred{bearer: bin}}, wantStatus: 400, wantCode: "invalid_argument", wantMsg: "$binary"},
		{name: "bytes over --max-data-size (counted decoded)", req: hreq{method: "POST", url: events, body: `{"type":"t","data":{"bin":{"$binary":"` + base64.StdEncoding.EncodeToString(make([]byte, 1010)) + `"}}}`, cred: cred{bearer: bin}}, wantStatus: 413, wantCode: "too_large"},
		// Too many rooms: a REST request names one room.
		{
			name: "too many connections: a publish is not a connection", flags: []string{"--max-conns-per-ip", "1"},
			before:     holdStreams("/sse?room=general", ada, 1),
			req:        hreq{method: "POST", url: events, body: pub, cred: cred{bearer: ada}},
			wantStatus: 201, logged: []string{logKey("general", "chat:message", "ada")},
		},
		// Connect flood: REST requests are not connections; the publish
		// rate bounds them.
		{
			name:       "publish flood",
			before:     repeat(3, hreq{method: "POST", url: events, body: pub, cred: cred{bearer: flood}}, 201),
			req:        hreq{method: "POST", url: events, body: pub, cred: cred{bearer: flood}},
			wantStatus: 429, wantCode: "rate_limited", wantHeader: "Retry-After",
			logged: []string{logKey("general", "chat:message", "flood"), logKey("general", "chat:message", "flood"), logKey("general", "chat:message", "flood")},
		},
		{name: "HEAD /healthz", req: hreq{method: "HEAD", url: "/healthz"}, wantStatus: 200},
		{name: "HEAD /readyz", req: hreq{method: "HEAD", url: "/readyz"}, wantStatus: 200},
		{name: "HEAD /metrics without a key (secured server)", req: hreq{method: "HEAD", url: "/metrics"}, wantStatus: 401},
		{name: "GET /metrics without a key (secured server)", req: hreq{method: "GET", url: "/metrics"}, wantStatus: 401, wantCode: "unauthorized"},
		{name: "GET /metrics with a token (not an admin key)", req: hreq{method: "GET", url: "/metrics", cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden"},
		{name: "HEAD /socket.io/socket.io.js", req: hreq{method: "HEAD", url: "/socket.io/socket.io.js"}, wantStatus: 200},
		{name: "GET /api/openapi.json without a token (secured server): the document is public", req: hreq{method: "GET", url: "/api/openapi.json"}, wantStatus: 200},
		{name: "POST /api/openapi.json", req: hreq{method: "POST", url: "/api/openapi.json", body: pub, cred: cred{bearer: ada}}, wantStatus: 405, wantCode: "method_not_allowed"},
		{
			name: "DNS rebinding: another Host on an anonymous loopback server", flags: []string{"--anonymous"},
			req:        hreq{method: "POST", url: events, body: pub, hdr: map[string]string{"Host": "rebind.evil.example"}},
			wantStatus: 403, wantCode: "forbidden", wantMsg: "host not allowed",
		},
		{
			name: "DNS rebinding: a name listed in --allowed-hosts is served", flags: []string{"--anonymous", "--allowed-hosts", "broker.test"},
			req:        hreq{method: "GET", url: "/api/rooms", hdr: map[string]string{"Host": "broker.test"}},
			wantStatus: 200,
		},
		{name: "publish flood: the same identity by cookie shares the bucket", req: hreq{method: "POST", url: events, body: pub, cred: cred{cookie: flood}}, wantStatus: 429, wantCode: "rate_limited", wantHeader: "Retry-After"},
		{
			name:       "publish flood: API keys are exempt",
			before:     repeat(3, hreq{method: "POST", url: events, body: pub, cred: cred{apiKey: testAPIKey}}, 201),
			req:        hreq{method: "POST", url: events, body: pub, cred: cred{apiKey: testAPIKey}},
			wantStatus: 201,
			logged:     []string{logKey("general", "chat:message", "api"), logKey("general", "chat:message", "api"), logKey("general", "chat:message", "api"), logKey("general", "chat:message", "api")},
		},
	}...)
	rows = append(rows, receiptRESTRows(ada)...)
	rows = append(rows, messageRows(t)...) // edit and delete (hostile_messages_test.go)
	rows = append(rows, adminRows(t)...)   // export, import, backup (hostile_dump_test.go)
	runHTTPTable(t, "rest", rows, tableSecrets(bad, ada, flood, bin), func(t *testing.T, e *hostileEnv) {
		sub := e.goodSub()
		tok := userToken(t, sub, nil)
		c := newClient()
		status, body, _ := send(t, c, hreq{method: "POST", url: e.srv.URL + events, body: `{"type":"good:check","data":1}`, cred: cred{bearer: tok}})
		if status != 201 {
			t.Fatalf("good publish: %d %s", status, body)
		}
		e.expect = append(e.expect, logKey("general", "good:check", sub))
		var p page
		if status, body, err := getJSON(c, e.srv.URL+events+"?before=0&limit=1&token="+tok, &p); err != nil || status != 200 || len(p.Events) != 1 || p.Events[0].From != sub {
			t.Fatalf("good history read: %d %s %v", status, body, err)
		}
	})
}

// TestHostileStreams is the table of SSE and of long-poll: the same
// hostile requests, answered the same way by both.
func TestHostileStreams(t *testing.T) {
	ada := userToken(t, "ada", nil)
	bad := badTokens(t)
	for _, tr := range []struct{ name, path, metric string }{
		{name: "sse", path: "/sse?room=general", metric: "rtbroker_sse_streams"},
		{name: "longpoll", path: "/poll?room=general&after=0&timeout=0s", metric: "rtbroker_longpoll_requests"},
	} {
		t.Run(tr.name, func(t *testing.T) {
			noPresence := userToken(t, "ada", func(c jwt.MapClaims) {
				c["rooms"] = map[string]any{"subscribe": []string{"general"}, "presence": []string{}}
			})
			held := holdStreams(tr.path, ada, 2)
			if tr.name == "longpoll" {
				held = holdPolls(tr.path, ada, 2, tr.metric)
			}
			rooms := func(n int) string {
				return strings.Replace(tr.path, "room=general", strings.TrimSuffix(strings.Repeat("room=general&", n), "&"), 1)
			}
			rows := []httpRow{{name: "no token", req: hreq{method: "GET", url: tr.path}, wantStatus: 401, wantCode: "unauthorized", wantHeader: "WWW-Authenticate"}}
			for _, b := range bad {
				for _, p := range placements {
					rows = append(rows, httpRow{name: b.name + " in the " + p.name, req: hreq{method: "GET", url: tr.path, cred: p.cred(b.token)}, wantStatus: 401, wantCode: "unauthorized"})
				}
			}
			rows = append(rows, []httpRow{
				{name: "token for another room", req: hreq{method: "GET", url: tr.path + "&room=ops", cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden"},
				// Publish without permission: SSE and long-poll only read.
				{name: "cross-origin request", req: hreq{method: "GET", url: tr.path, cred: cred{cookie: ada}, hdr: map[string]string{"Origin": evilOrigin}}, wantStatus: 200, wantNoCORS: true},
				{name: "cross-origin preflight", req: hreq{method: "OPTIONS", url: tr.path, hdr: map[string]string{"Origin": evilOrigin, "Access-Control-Request-Method": "GET"}}, wantStatus: 403, wantCode: "forbidden", wantMsg: "origin not allowed"},
				{name: "oversized request (headers over 1 MB)", req: hreq{method: "GET", url: tr.path, cred: cred{bearer: ada}, hdr: map[string]string{"X-Pad": strings.Repeat("x", 1<<20+8192)}}, wantStatus: 431},
				{name: "HEAD", req: hreq{method: "HEAD", url: tr.path}, wantStatus: 200},
				{name: "too many rooms", req: hreq{method: "GET", url: rooms(5), cred: cred{bearer: ada}}, wantStatus: 400, wantCode: "invalid_argument", wantMsg: "more than 4 rooms"},
				{name: "history over --max-history", req: hreq{method: "GET", url: tr.path + "&history=1001", cred: cred{bearer: ada}}, wantStatus: 400, wantCode: "invalid_argument", wantMsg: "more than the maximum, 1000"},
				{name: "history not a count", req: hreq{method: "GET", url: tr.path + "&history=-1", cred: cred{bearer: ada}}, wantStatus: 400, wantCode: "invalid_argument", wantMsg: "whole number"},
				{name: "another pair's direct messages", req: hreq{method: "GET", url: tr.path + "&room=dm:bob:eve&history=5", cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden", wantMsg: "two users only"},
				{name: "unsorted direct-message room", req: hreq{method: "GET", url: tr.path + "&room=dm:bob:ada", cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden", wantMsg: "not a direct-message room"},
				{name: "presence not 1 or 0", req: hreq{method: "GET", url: tr.path + "&presence=yes", cred: cred{bearer: ada}}, wantStatus: 400, wantCode: "invalid_argument", wantMsg: "must be 1"},
				{name: "presence events without the presence permission", req: hreq{method: "GET", url: tr.path + "&presence=1", cred: cred{bearer: noPresence}}, wantStatus: 403, wantCode: "forbidden", wantMsg: "presence events asked for"},
				{
					name: "too many connections from one IP", flags: []string{"--max-conns-per-ip", "2"},
					before: held, req: hreq{method: "GET", url: tr.path, cred: cred{bearer: ada}},
					wantStatus: 429, wantCode: "rate_limited", wantMsg: "too many connections from this address", wantHeader: "Retry-After",
				},
				{
					name: "connect flood", flags: []string{"--connect-rate", "1/h", "--connect-burst", "3"},
					before:     repeat(3, hreq{method: "GET", url: tr.path, cred: cred{bearer: ada}}, 200),
					req:        hreq{method: "GET", url: tr.path, cred: cred{bearer: ada}},
					wantStatus: 429, wantCode: "rate_limited", wantMsg: "too many connections opened", wantHeader: "Retry-After",
				},
				// Publish flood: SSE and long-poll only read.
			}...)
			runHTTPTable(t, tr.name, rows, tableSecrets(bad, ada), func(t *testing.T, e *hostileEnv) {
				sub := e.goodSub()
				tok := userToken(t, sub, nil)
				c := newClient()
				head := getHealth(t, c, e.srv.URL).Head
				if tr.name == "sse" {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					st, err := openSSE(ctx, newStreamClient(), fmt.Sprintf("%s/sse?room=general&after=%d&token=%s", e.srv.URL, head, tok), "")
					if err != nil {
						t.Fatalf("good stream: %v", err)
					}
					defer st.close()
					ev := goodPublish(t, e, tok, sub)
					if got, err := st.nextEvent(); err != nil || got.ID != ev.ID {
						t.Fatalf("good stream got %v, %v; want %s", got, err, ev)
					}
					return
				}
				ev := goodPublish(t, e, tok, sub)
				var p page
				if status, body, err := getJSON(c, fmt.Sprintf("%s/poll?room=general&after=%d&timeout=10s&token=%s", e.srv.URL, head, tok), &p); err != nil || status != 200 || len(p.Events) != 1 || p.Events[0].ID != ev.ID {
					t.Fatalf("good poll: %d %s %v", status, body, err)
				}
			})
		})
	}
}

// goodPublish publishes a good:check event to general as sub (token tok)
// and records it in e.expect.
func goodPublish(t *testing.T, e *hostileEnv, tok, sub string) wireEvent {
	t.Helper()
	r, err := publish(newClient(), e.srv.URL, "general", "good:check", []byte(`1`), "Authorization", "Bearer "+tok)
	if err != nil || r.status != 201 {
		t.Fatalf("good publish: %d %s %v", r.status, r.body, err)
	}
	e.expect = append(e.expect, logKey("general", "good:check", sub))
	return r.ev
}

// repeat is a before step: it sends r n times from the hostile address,
// each answered status.
func repeat(n int, r hreq, status int) func(*testing.T, *hostileEnv) func() {
	return func(t *testing.T, e *hostileEnv) func() {
		t.Helper()
		c := clientFrom(hostileIP)
		r.url = e.srv.URL + r.url
		for i := range n {
			if got, body, _ := send(t, c, r); got != status {
				t.Fatalf("request %d of %d before the row: %d %s, want %d", i+1, n, got, body, status)
			}
		}
		return nil
	}
}

// holdStreams is a before step: it opens n SSE streams (path with tok)
// from the hostile address and closes them after the row.
func holdStreams(path, tok string, n int) func(*testing.T, *hostileEnv) func() {
	return func(t *testing.T, e *hostileEnv) func() {
		t.Helper()
		var streams []*sseStream
		for range n {
			st, err := openSSE(context.Background(), clientFrom(hostileIP), e.srv.URL+path+"&token="+tok, "")
			if err != nil {
				t.Fatal(err)
			}
			streams = append(streams, st)
		}
		return func() {
			for _, st := range streams {
				st.close()
			}
		}
	}
}

// holdPolls is a before step: it holds n long-polls (path with a long
// timeout, tok) from the hostile address until the server counts them
// (metric), and ends them after the row.
func holdPolls(path, tok string, n int, metric string) func(*testing.T, *hostileEnv) func() {
	return func(t *testing.T, e *hostileEnv) func() {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				resp, err := doHTTP(ctx, clientFrom(hostileIP), hreq{method: "GET", url: e.srv.URL + strings.Replace(path, "timeout=0s", "timeout=60s", 1) + "&token=" + tok})
				if err == nil {
					resp.Body.Close()
				}
			})
		}
		waitMetric(t, newClient(), e.srv.URL, metric, float64(n))
		return func() {
			cancel()
			wg.Wait()
		}
	}
}
