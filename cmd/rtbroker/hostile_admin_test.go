package main

import (
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestHostileAdmin is the hostile-input table of the admin API
// (/api/admin/…): only an admin API key, or a token holding the role
// --admin-role names, gets in; everything else is refused in the one
// JSON error shape, and bad parameters and bodies are 400.
func TestHostileAdmin(t *testing.T) {
	ada := userToken(t, "ada", nil)
	boss := userToken(t, "boss", func(c jwt.MapClaims) { c["roles"] = []string{"admin"} })
	bad := badTokens(t)
	admin := cred{apiKey: testAPIKey}
	const rooms, conns, trim = "/api/admin/rooms", "/api/admin/connections", "/api/admin/rooms/hostile:trim/trim"
	rows := []httpRow{
		{name: "rooms without a credential", req: hreq{method: "GET", url: rooms}, wantStatus: 401, wantCode: "unauthorized", wantHeader: "WWW-Authenticate"},
		{name: "connections without a credential", req: hreq{method: "GET", url: conns}, wantStatus: 401, wantCode: "unauthorized"},
		{name: "disconnect without a credential", req: hreq{method: "DELETE", url: conns + "/sse-1"}, wantStatus: 401, wantCode: "unauthorized"},
		{name: "trim without a credential", req: hreq{method: "POST", url: trim, body: `{"keep":1}`}, wantStatus: 401, wantCode: "unauthorized"},
		{name: "rooms with a user token", req: hreq{method: "GET", url: rooms, cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden", wantMsg: "admin"},
		{name: "trim with a user token", req: hreq{method: "POST", url: trim, body: `{"keep":1}`, cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden"},
		{name: "disconnect with a user token", req: hreq{method: "DELETE", url: conns + "/sse-1", cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden"},
		{name: "a token with the role admin, without --admin-role", req: hreq{method: "GET", url: conns, cred: cred{bearer: boss}}, wantStatus: 403, wantCode: "forbidden"},
		{name: "a token with the role admin, with --admin-role admin", flags: []string{"--admin-role", "admin"}, req: hreq{method: "GET", url: conns, cred: cred{bearer: boss}}, wantStatus: 200},
		{name: "a user token, with --admin-role admin", flags: []string{"--admin-role", "admin"}, req: hreq{method: "GET", url: conns, cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden"},
		{name: "the admin key in the query (header only)", req: hreq{method: "GET", url: rooms, cred: cred{query: testAPIKey}}, wantStatus: 401, wantCode: "unauthorized"},
		{name: "rooms with the admin key", req: hreq{method: "GET", url: rooms, cred: admin}, wantStatus: 200},
		{name: "rooms: limit 0", req: hreq{method: "GET", url: rooms + "?limit=0", cred: admin}, wantStatus: 400, wantCode: "invalid_argument", wantMsg: "limit"},
		{name: "rooms: limit not a number", req: hreq{method: "GET", url: rooms + "?limit=ten", cred: admin}, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "rooms: limit too large", req: hreq{method: "GET", url: rooms + "?limit=100000", cred: admin}, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "rooms: after a name past the end", req: hreq{method: "GET", url: rooms + "?after=" + strings.Repeat("z", 300), cred: admin}, wantStatus: 200},
		{name: "connections: unknown transport", req: hreq{method: "GET", url: conns + "?transport=pigeon", cred: admin}, wantStatus: 400, wantCode: "invalid_argument", wantMsg: "transport"},
		{name: "connections: negative offset", req: hreq{method: "GET", url: conns + "?offset=-1", cred: admin}, wantStatus: 400, wantCode: "invalid_argument", wantMsg: "offset"},
		{name: "connections: huge offset", req: hreq{method: "GET", url: conns + "?offset=99999999999999999999", cred: admin}, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "connections: a room nobody follows", req: hreq{method: "GET", url: conns + "?room=nobody&transport=sse", cred: admin}, wantStatus: 200},
		{name: "disconnect an unknown id", req: hreq{method: "DELETE", url: conns + "/sse-999999", cred: admin}, wantStatus: 404, wantCode: "not_found"},
		{name: "disconnect a very long id", req: hreq{method: "DELETE", url: conns + "/" + strings.Repeat("x", 4000), cred: admin}, wantStatus: 404, wantCode: "not_found"},
		{name: "GET on the disconnect route", req: hreq{method: "GET", url: conns + "/sse-1", cred: admin}, wantStatus: 405, wantCode: "method_not_allowed"},
		{name: "unknown admin route", req: hreq{method: "GET", url: "/api/admin/nothing", cred: admin}, wantStatus: 404, wantCode: "not_found"},
		{name: "trim: empty body", req: hreq{method: "POST", url: trim, cred: admin}, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "trim: neither before nor keep", req: hreq{method: "POST", url: trim, body: `{}`, cred: admin}, wantStatus: 400, wantCode: "invalid_argument", wantMsg: "before"},
		{name: "trim: before 0", req: hreq{method: "POST", url: trim, body: `{"before":0}`, cred: admin}, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "trim: negative keep", req: hreq{method: "POST", url: trim, body: `{"keep":-1}`, cred: admin}, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "trim: keep as a string", req: hreq{method: "POST", url: trim, body: `{"keep":"1"}`, cred: admin}, wantStatus: 400, wantCode: "invalid_argument", wantMsg: "keep"},
		{name: "trim: before beyond uint64", req: hreq{method: "POST", url: trim, body: `{"before":1e30}`, cred: admin}, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "trim: unknown field", req: hreq{method: "POST", url: trim, body: `{"keep":1,"all":true}`, cred: admin}, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "trim: trailing data", req: hreq{method: "POST", url: trim, body: `{"keep":1} {}`, cred: admin}, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "trim: not JSON", req: hreq{method: "POST", url: trim, body: `keep=1`, cred: admin}, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "trim: a body over 4 KiB", req: hreq{method: "POST", url: trim, body: `{"keep":1,"pad":"` + strings.Repeat("x", 5000) + `"}`, cred: admin}, wantStatus: 413, wantCode: "too_large"},
		{name: "trim: a bad room name", req: hreq{method: "POST", url: "/api/admin/rooms/bad!room/trim", body: `{"keep":1}`, cred: admin}, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "trim: a room name too long", req: hreq{method: "POST", url: "/api/admin/rooms/" + strings.Repeat("r", 300) + "/trim", body: `{"keep":1}`, cred: admin}, wantStatus: 400, wantCode: "invalid_argument"},
		{
			name: "trim from another site with an admin token in the cookie", flags: []string{"--admin-role", "admin"},
			req:        hreq{method: "POST", url: trim, body: `{"keep":0}`, cred: cred{cookie: boss}, hdr: map[string]string{"Origin": evilOrigin}},
			wantStatus: 403, wantCode: "forbidden",
		},
		{
			name: "disconnect from another site with an admin token in the cookie", flags: []string{"--admin-role", "admin"},
			req:        hreq{method: "DELETE", url: conns + "/sse-1", cred: cred{cookie: boss}, hdr: map[string]string{"Origin": evilOrigin}},
			wantStatus: 403, wantCode: "forbidden",
		},
		{
			name: "trim from the allowed origin with an admin token in the cookie", flags: []string{"--admin-role", "admin"},
			req:        hreq{method: "POST", url: trim, body: `{"keep":0}`, cred: cred{cookie: boss}, hdr: map[string]string{"Origin": appOrigin}},
			wantStatus: 200,
		},
		{name: "trim: a room without events", req: hreq{method: "POST", url: trim, body: `{"keep":0}`, cred: admin}, wantStatus: 200},
	}
	for _, b := range bad {
		rows = append(rows, httpRow{name: b.name + ": rooms", req: hreq{method: "GET", url: rooms, cred: cred{bearer: b.token}}, wantStatus: 401, wantCode: "unauthorized"})
	}
	runHTTPTable(t, "admin", rows, tableSecrets(bad, ada, boss), func(t *testing.T, e *hostileEnv) {
		status, body, _ := send(t, newClient(), hreq{method: "GET", url: e.srv.URL + rooms, cred: admin})
		if status != 200 || !strings.Contains(body, `"rooms":`) {
			t.Fatalf("good admin read: %d %s", status, body)
		}
	})
}
