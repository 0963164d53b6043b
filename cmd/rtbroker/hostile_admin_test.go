package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// adminRows are the hostile rows of the operator routes that move data
// (export, import, backup), for TestHostileREST's secured server: only an
// admin API key reaches them; an import is refused on a non-empty log
// (409), and on an empty one (rows with a server of their own) a bad line
// is answered 400 and a line over the limit 413, both writing nothing.
func adminRows(t *testing.T) []httpRow {
	ada := userToken(t, "ada", nil)
	key := cred{apiKey: testAPIKey}
	header := fmt.Sprintf(`{"format":"rtbroker-export","version":1,"epoch":"01JX","head":1,"time":%q}`, time.Now().UTC().Format(time.RFC3339Nano))
	event := `{"offset":1,"id":"01KC0000000000000000000000","room":"general","type":"chat:message","data":{"text":"hi"},"time":"2026-12-01T00:00:00Z","from":"ada"}`
	end := `{"end":{"events":1,"states":0}}`
	fresh := []string{} // a server of its own: its log is empty
	return []httpRow{
		{name: "admin export without a key", req: hreq{method: "GET", url: "/api/admin/export"}, wantStatus: 401, wantCode: "unauthorized"},
		{name: "admin export with a user token", req: hreq{method: "GET", url: "/api/admin/export", cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden"},
		{name: "admin backup with a user token", req: hreq{method: "GET", url: "/api/admin/backup", cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden"},
		{name: "admin import with a user token", req: hreq{method: "POST", url: "/api/admin/import", body: header + "\n" + event + "\n" + end, cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden"},
		{name: "admin export of a bad room name", req: hreq{method: "GET", url: "/api/admin/export?room=bad!room", cred: key}, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "admin import into a non-empty log", req: hreq{method: "POST", url: "/api/admin/import", body: header + "\n" + event + "\n" + end, cred: key}, wantStatus: 409, wantCode: "conflict", wantMsg: "not empty"},
		{name: "admin import: a line that is not JSON", flags: fresh, req: hreq{method: "POST", url: "/api/admin/import", body: header + "\n" + event + "\n{oops\n" + end, cred: key},
			wantStatus: 400, wantCode: "invalid_argument", wantMsg: "export line 3"},
		{name: "admin import: not an export", flags: fresh, req: hreq{method: "POST", url: "/api/admin/import", body: event + "\n" + end, cred: key},
			wantStatus: 400, wantCode: "invalid_argument", wantMsg: "not the header"},
		{name: "admin import: an event of a bad room", flags: fresh, req: hreq{method: "POST", url: "/api/admin/import", body: header + "\n" + strings.Replace(event, "general", "bad room", 1) + "\n" + end, cred: key},
			wantStatus: 400, wantCode: "invalid_argument", wantMsg: "room"},
		{name: "admin import: a line over the limit", flags: fresh, req: hreq{method: "POST", url: "/api/admin/import", body: header + "\n" + strings.Replace(event, `"hi"`, `"`+strings.Repeat("x", importMaxLine(1024))+`"`, 1) + "\n" + end, cred: key},
			wantStatus: 413, wantCode: "too_large", wantMsg: "export line 2"},
	}
}

// TestAdminImportSlowBody: an import whose body stops coming is answered
// 408 once --read-timeout passes and its connection closed, and the
// server goes on serving.
func TestAdminImportSlowBody(t *testing.T) {
	e := newHostileEnv(t, "slowimport", "--read-timeout", "1s")
	c := slowPost(t, e.srv.URL, "/api/admin/import", testAPIKey, 200_000)
	status, body, closed := slowAnswer(t, c)
	if status != 408 || errCode(body) != "timeout" || !closed {
		t.Fatalf("slow import: %d %s (closed %v), want 408 timeout and the connection closed", status, body, closed)
	}
	getHealth(t, newClient(), e.srv.URL)
	e.checkQuiet(t)
}
