package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The edit-and-delete rows of the hostile tables (TestHostileREST,
// TestHostileSocketIO): each row runs on fresh fixtures published with the
// API key before it (msgFixtures), and every refused change must leave
// the log as it was.

// expand replaces the "{name}" placeholders of s with e.vars.
func (e *hostileEnv) expand(s string) string {
	for k, v := range e.vars {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// msgFixture is what the message rows change.
type msgFixture struct {
	msg   wireEvent // a message in general, by the API key
	other wireEvent // a message in user:zed (another room)
	edit  wireEvent // an edit of msg
	gone  wireEvent // a deleted message in general
}

// msgFixtures publishes a msgFixture with the API key, records its events
// in e.expect and sets e.vars: msg, other, edit and gone are
// "<id>?offset=<offset>" of those events, msg_offset msg's offset.
func msgFixtures(t *testing.T, e *hostileEnv) msgFixture {
	t.Helper()
	c := newClient()
	api := cred{apiKey: testAPIKey}
	pub := func(room string) wireEvent {
		t.Helper()
		status, body, _ := send(t, c, hreq{method: "POST", url: e.srv.URL + "/api/rooms/" + room + "/events", body: `{"type":"chat:message","data":{"text":"fixture"}}`, cred: api})
		var ev wireEvent
		if status != 201 || json.Unmarshal([]byte(body), &ev) != nil {
			t.Fatalf("fixture publish: %d %s", status, body)
		}
		e.expect = append(e.expect, logKey(room, "chat:message", "api"))
		return ev
	}
	change := func(method string, ev wireEvent, body, typ string) wireEvent {
		t.Helper()
		status, b, _ := send(t, c, hreq{method: method, url: e.srv.URL + "/api/rooms/general/messages/" + ref(ev), body: body, cred: api})
		var out wireEvent
		if status != 200 || json.Unmarshal([]byte(b), &out) != nil {
			t.Fatalf("fixture %s: %d %s", method, status, b)
		}
		e.expect = append(e.expect, logKey("general", typ, "api"))
		return out
	}
	f := msgFixture{msg: pub("general"), other: pub("user:zed"), gone: pub("general")}
	f.edit = change("PATCH", f.msg, `{"data":{"text":"fixture v2"}}`, "message:edit")
	change("DELETE", f.gone, "", "message:delete")
	e.vars = map[string]string{"msg": ref(f.msg), "other": ref(f.other), "edit": ref(f.edit), "gone": ref(f.gone), "msg_offset": fmt.Sprint(f.msg.Offset), "msg_id": f.msg.ID}
	return f
}

// ref is the URL tail naming ev: "<id>?offset=<offset>".
func ref(ev wireEvent) string { return fmt.Sprintf("%s?offset=%d", ev.ID, ev.Offset) }

// messageRows are the REST rows: PATCH and DELETE
// /api/rooms/{room}/messages/{id}, GET /api/rooms/{room}/messages, and the
// change types on the generic publish path. The changes are made with the
// API key (exempt from the publish rate, allowed to change any message),
// so that what is refused is the input.
func messageRows(t *testing.T) []httpRow {
	bob := userToken(t, "bob", nil)
	fixtures := func(t *testing.T, e *hostileEnv) func() { msgFixtures(t, e); return nil }
	const msgs = "/api/rooms/general/messages/"
	api := cred{apiKey: testAPIKey}
	edit := `{"data":{"text":"changed"}}`
	row := func(name, method, url, body string, c cred, status int, code, msg string) httpRow {
		return httpRow{name: name, before: fixtures, req: hreq{method: method, url: url, body: body, cred: c}, wantStatus: status, wantCode: code, wantMsg: msg}
	}
	return []httpRow{
		row("edit: unknown id", "PATCH", msgs+"01ARZ3NDEKTSV4RRFFQ69G5FAV?offset={msg_offset}", edit, api, 404, "not_found", "no message"),
		row("edit: id of another room", "PATCH", msgs+"{other}", edit, api, 404, "not_found", "no message"),
		row("edit: missing data", "PATCH", msgs+"{msg}", `{}`, api, 400, "invalid_argument", "data is required"),
		row("edit: no body", "PATCH", msgs+"{msg}", "", api, 400, "invalid_argument", "body is empty"),
		row("edit: unknown field", "PATCH", msgs+"{msg}", `{"data":1,"text":"x"}`, api, 400, "invalid_argument", ""),
		row("edit of an edit", "PATCH", msgs+"{edit}", edit, api, 400, "invalid_argument", "not a message"),
		row("delete of an edit", "DELETE", msgs+"{edit}", "", api, 400, "invalid_argument", "not a message"),
		row("edit of a deleted message", "PATCH", msgs+"{gone}", edit, api, 404, "not_found", "was deleted"),
		row("delete of a deleted message", "DELETE", msgs+"{gone}", "", api, 404, "not_found", "was deleted"),
		row("edit: id not an id", "PATCH", msgs+"not-an-id?offset=1", edit, api, 400, "invalid_argument", "id must be"),
		row("edit: offset missing", "PATCH", msgs+"{msg_id}", edit, api, 400, "invalid_argument", "offset must be"),
		row("edit: data over --max-data-size", "PATCH", msgs+"{msg}", `{"data":"`+strings.Repeat("x", 2000)+`"}`, api, 413, "too_large", ""),
		row("edit by another user", "PATCH", msgs+"{msg}", edit, cred{bearer: bob}, 403, "forbidden", "author or a moderator"),
		row("delete without a token", "DELETE", msgs+"{msg}", "", cred{}, 401, "unauthorized", ""),
		{
			name: "cross-origin edit with the cookie", before: fixtures,
			req:        hreq{method: "PATCH", url: msgs + "{msg}", body: edit, cred: cred{cookie: bob}, hdr: map[string]string{"Origin": evilOrigin}},
			wantStatus: 403, wantCode: "forbidden", wantMsg: "cross-site request",
		},
		row("folded view without a token", "GET", "/api/rooms/general/messages", "", cred{}, 401, "unauthorized", ""),
		row("folded view: after not a number", "GET", "/api/rooms/general/messages?after=x", "", api, 400, "invalid_argument", "after"),
		row("folded view: limit too large", "GET", "/api/rooms/general/messages?limit=100000", "", api, 400, "invalid_argument", "limit"),
		row("publish of a message:edit event", "POST", "/api/rooms/general/events", `{"type":"message:edit","data":{"id":"x","offset":1,"data":1}}`, api, 400, "invalid_argument", "messages API"),
		row("batch with a message:delete event", "POST", "/api/rooms/general/events", `[{"type":"chat:message","data":1},{"type":"message:delete","data":{}}]`, api, 400, "invalid_argument", "messages API"),
	}
}

// messageSIORows are the Socket.IO rows: message:edit and message:delete
// with bad input, from a socket whose identity is not the author (two
// fresh identities, so that the publish burst of the table's servers,
// which every change that reaches the log's lookup takes from, is not the
// limit).
func messageSIORows() []sioRow {
	return []sioRow{{name: "message:edit and message:delete with bad input", run: func(t *testing.T, e *sioEnv) {
		f := msgFixtures(t, e.hostileEnv)
		refArg := func(ev wireEvent, extra map[string]any) map[string]any {
			m := map[string]any{"room": "general", "id": ev.ID, "offset": ev.Offset}
			for k, v := range extra {
				m[k] = v
			}
			return m
		}
		data := map[string]any{"data": map[string]any{"text": "changed"}}
		unknown := f.msg
		unknown.ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
		for i, steps := range [][]sioStep{{
			{event: "message:edit", arg: map[string]any{"room": "general", "id": 42, "offset": f.msg.Offset}, wantCode: "invalid_argument", wantMsg: "id must be"},
			{event: "message:edit", arg: map[string]any{"room": "general", "id": f.msg.ID}, wantCode: "invalid_argument", wantMsg: "offset must be"},
			{event: "message:delete", arg: refArg(f.msg, data), wantCode: "invalid_argument", wantMsg: "no data"},
			{event: "message:edit", arg: refArg(f.msg, data), wantCode: "forbidden", wantMsg: "author or a moderator"},
			{event: "message:edit", arg: refArg(unknown, data), wantCode: "not_found"},
			{event: "message:edit", arg: refArg(f.other, data), wantCode: "not_found"},
		}, {
			{event: "message:edit", arg: refArg(f.edit, data), wantCode: "invalid_argument", wantMsg: "not a message"},
			{event: "message:edit", arg: refArg(f.gone, data), wantCode: "not_found", wantMsg: "was deleted"},
			{event: "message:edit", arg: refArg(f.msg, nil), wantCode: "invalid_argument", wantMsg: "data is required"},
		}} {
			sub := fmt.Sprintf("msg-%s-%d", e.transport, i)
			name, reply := e.connect(t, map[string]any{"auth": map[string]any{"token": userToken(t, sub, nil)}}, true)
			if reply["ok"] != true {
				t.Fatalf("connect: %v", reply["error"])
			}
			for j, s := range steps {
				checkAck(t, fmt.Sprintf("step %d.%d (%s)", i, j+1, s.event), e.emit(t, name, s.event, s.arg), s.wantCode, s.wantMsg)
			}
			checkAck(t, "join after the row", e.emit(t, name, "room:join", map[string]any{"room": "general"}), "", "")
			e.d.Try("disconnect", map[string]any{"name": name})
		}
	}}}
}

// waitLogged waits until the log holds n events of key (logKey): events
// published without an ack are committed after the publisher moved on.
func waitLogged(t *testing.T, base, key string, n int) {
	t.Helper()
	for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(10 * time.Millisecond) {
		got := 0
		for _, k := range logKeys(t, base) {
			if k == key {
				got++
			}
		}
		if got >= n {
			return
		}
	}
	t.Fatalf("the log never held %d events %q", n, key)
}
