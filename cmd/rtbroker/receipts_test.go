package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// chatToken is a token of sub that may read and publish the rooms of
// patterns.
func chatToken(t *testing.T, sub string, patterns ...string) string {
	return mint(t, sub, func(c jwt.MapClaims) {
		c["rooms"] = map[string]any{"subscribe": patterns, "publish": patterns}
	})
}

// unreadRoom is one room of GET /api/me/rooms.
type unreadRoom struct {
	Room   string `json:"room"`
	Head   uint64 `json:"head"`
	Read   uint64 `json:"read"`
	Unread int    `json:"unread"`
	Capped bool   `json:"unread_capped"`
}

// myRooms is GET /api/me/rooms with the bearer token tok.
func myRooms(t *testing.T, base, tok string) []unreadRoom {
	t.Helper()
	status, body, _ := cred{bearer: tok}.do(t, "GET", base+"/api/me/rooms", "")
	var l struct {
		Rooms     []unreadRoom `json:"rooms"`
		Truncated *bool        `json:"truncated"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &l) != nil || l.Truncated == nil {
		t.Fatalf("GET /api/me/rooms: %d %s", status, body)
	}
	return l.Rooms
}

// sioRooms is me:rooms over Socket.IO on the driver's socket name.
func sioRooms(t *testing.T, d *sioDriver, name string) []unreadRoom {
	t.Helper()
	m := d.do("emit", map[string]any{"name": name, "event": "me:rooms", "args": []any{}, "ack": true})
	acks, _ := m["ack"].([]any)
	b, _ := json.Marshal(acks)
	var ack []struct {
		OK    bool         `json:"ok"`
		Rooms []unreadRoom `json:"rooms"`
	}
	if json.Unmarshal(b, &ack) != nil || len(ack) != 1 || !ack[0].OK {
		t.Fatalf("me:rooms: %v", m)
	}
	return ack[0].Rooms
}

func sameRooms(t *testing.T, what string, got, want []unreadRoom) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: rooms %+v, want %+v", what, got, want)
	}
}

// TestReadReceipts: read positions set over Socket.IO (the real
// socket.io-client) and HTTP only move forward, tell the room's other
// members with a receipt event, give unread counts on both transports,
// respect permissions, and survive a restart (the bbolt file reopened).
func TestReadReceipts(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "--jwt-secret", testSecret)
	ada, bob := chatToken(t, "ada", "chat:*"), chatToken(t, "bob", "chat:*")
	carol := chatToken(t, "carol", "other")
	for _, room := range []string{"chat:a", "chat:a", "chat:a", "chat:b", "chat:b"} { // chat:a 1 2 3, chat:b 4 5
		if status, body, _ := (cred{bearer: ada}).do(t, "POST", s.URL+"/api/rooms/"+room+"/events", `{"type":"chat:message","data":{"text":"hi"}}`); status != 201 {
			t.Fatalf("publish: %d %s", status, body)
		}
	}
	d := startSIODriver(t)
	if r := d.connect("bob", s.URL, bob, false); r["ok"] != true {
		t.Fatalf("bob connects: %v", r)
	}
	if ack := d.emit("bob", "room:join", map[string]any{"room": "chat:a"}); ack["ok"] != true {
		t.Fatalf("bob joins: %v", ack)
	}
	if r := d.connect("ada", s.URL, ada, false); r["ok"] != true {
		t.Fatalf("ada connects: %v", r)
	}
	receipt := func(wantOffset float64) {
		t.Helper()
		evs := d.WaitEvents("bob", 1)
		var data map[string]any
		if len(evs) != 1 || evs[0].Event != "receipt" || json.Unmarshal(evs[0].Args[0], &data) != nil || data["user"] != "ada" || data["offset"] != wantOffset {
			t.Fatalf("bob received %v, want receipt {user: ada, offset: %v}", evs, wantOffset)
		}
	}
	steps := []struct {
		name       string
		http       bool
		offset     uint64
		wantOffset float64
		wantMoved  bool
		wantRooms  []unreadRoom // me:rooms after the step, when set
	}{
		{"Socket.IO marks 2", false, 2, 2, true, nil},
		{"Socket.IO: a lower offset is a no-op", false, 1, 2, false, []unreadRoom{{Room: "chat:a", Head: 3, Read: 2, Unread: 1}, {Room: "chat:b", Head: 5, Unread: 2}}},
		{"HTTP marks 3", true, 3, 3, true, nil},
		{"HTTP: the same offset is a no-op", true, 3, 3, false, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var ack map[string]any
			if st.http {
				status, body, _ := (cred{bearer: ada}).do(t, "POST", s.URL+"/api/rooms/chat:a/read", fmt.Sprintf(`{"offset":%d}`, st.offset))
				if status != 200 || json.Unmarshal([]byte(body), &ack) != nil {
					t.Fatalf("POST read: %d %s", status, body)
				}
			} else {
				ack = d.emit("ada", "room:read", map[string]any{"room": "chat:a", "offset": st.offset})
				if ack["ok"] != true {
					t.Fatalf("room:read: %v", ack)
				}
			}
			if ack["room"] != "chat:a" || ack["offset"] != st.wantOffset || ack["moved"] != st.wantMoved {
				t.Fatalf("answer %v, want offset %v moved %v", ack, st.wantOffset, st.wantMoved)
			}
			if st.wantMoved {
				receipt(st.wantOffset)
			}
			if st.wantRooms != nil {
				sameRooms(t, "me:rooms", sioRooms(t, d, "ada"), st.wantRooms)
			}
		})
	}
	want := []unreadRoom{{Room: "chat:a", Head: 3, Read: 3}, {Room: "chat:b", Head: 5, Unread: 2}}
	sameRooms(t, "ada over HTTP", myRooms(t, s.URL, ada), want)
	sameRooms(t, "ada over Socket.IO", sioRooms(t, d, "ada"), want)
	sameRooms(t, "bob (no position)", myRooms(t, s.URL, bob), []unreadRoom{{Room: "chat:a", Head: 3, Unread: 3}, {Room: "chat:b", Head: 5, Unread: 2}})

	t.Run("a room the user may not read", func(t *testing.T) {
		if status, body, _ := (cred{bearer: carol}).do(t, "POST", s.URL+"/api/rooms/chat:a/read", `{"offset":1}`); status != 403 || errCode(body) != "forbidden" {
			t.Errorf("carol marks chat:a: %d %s, want 403 forbidden", status, body)
		}
		sameRooms(t, "carol", myRooms(t, s.URL, carol), []unreadRoom{})
		if r := d.connect("carol", s.URL, carol, false); r["ok"] != true {
			t.Fatalf("carol connects: %v", r)
		}
		ack := d.emit("carol", "room:read", map[string]any{"room": "chat:a", "offset": 1})
		if e, _ := ack["error"].(map[string]any); ack["ok"] != false || e["code"] != "forbidden" {
			t.Errorf("carol room:read: %v, want forbidden", ack)
		}
	})
	d.Try("disconnect", map[string]any{"name": "ada"})
	d.Try("disconnect", map[string]any{"name": "bob"})

	s.Stop(t)
	s = startServer(t, dir, "--jwt-secret", testSecret)
	sameRooms(t, "ada after a restart", myRooms(t, s.URL, ada), want)
	if r := d.connect("ada2", s.URL, ada, false); r["ok"] != true {
		t.Fatalf("ada reconnects: %v", r)
	}
	sameRooms(t, "ada over Socket.IO after a restart", sioRooms(t, d, "ada2"), want)
	ack := d.emit("ada2", "room:read", map[string]any{"room": "chat:a", "offset": 2})
	if ack["ok"] != true || ack["offset"] != float64(3) || ack["moved"] != false {
		t.Errorf("a lower offset after the restart: %v, want offset 3 moved false", ack)
	}
}

// TestRetentionRules: --retention-rules trims a progress:* room, keeps a
// dm:* room whole whatever the default, applies the default elsewhere,
// and unread counts count the retained events only.
func TestRetentionRules(t *testing.T) {
	s := startServer(t, "", "--jwt-secret", testSecret, "--retention-rules", "progress:*=1ms, dm:*=forever",
		"--retention-max-count", "2", "--retention-interval", "20ms")
	ada := chatToken(t, "ada", "chat:*", "progress:*", "dm:*")
	rooms := []string{"chat:x", "progress:job", "dm:ada:bob"}
	for range 4 {
		for _, room := range rooms {
			if status, body, _ := (cred{bearer: ada}).do(t, "POST", s.URL+"/api/rooms/"+room+"/events", `{"type":"m","data":1}`); status != 201 {
				t.Fatalf("publish: %d %s", status, body)
			}
		}
	} // chat:x 1 4 7 10, progress:job 2 5 8 11, dm 3 6 9 12
	if status, body, _ := (cred{bearer: ada}).do(t, "POST", s.URL+"/api/rooms/chat:x/read", `{"offset":1}`); status != 200 {
		t.Fatalf("mark: %d %s", status, body)
	}
	var info []struct {
		Room  string `json:"room"`
		Count int    `json:"count"`
	}
	deadline := time.Now().Add(20 * time.Second) // a bound on waiting, not a measured time
	for {
		var l struct {
			Rooms json.RawMessage `json:"rooms"`
		}
		if _, body, _ := (cred{bearer: ada}).do(t, "GET", s.URL+"/api/rooms", ""); json.Unmarshal([]byte(body), &l) != nil || json.Unmarshal(l.Rooms, &info) != nil {
			t.Fatalf("GET /api/rooms: %s", body)
		}
		if len(info) == 3 && info[0].Count == 2 && info[2].Count == 0 { // chat:x, dm:ada:bob, progress:job
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention did not run: %+v", info)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if info[1].Room != "dm:ada:bob" || info[1].Count != 4 {
		t.Errorf("dm room: %+v, want all 4 events kept", info[1])
	}
	want := []unreadRoom{{Room: "chat:x", Head: 10, Read: 1, Unread: 2}, {Room: "dm:ada:bob", Head: 12, Unread: 4}, {Room: "progress:job", Head: 11}}
	sameRooms(t, "unread after the trim", myRooms(t, s.URL, ada), want)
	// The pass logs after its commit, which the counts above already see.
	waitFor(t, "retention in the logs", func() bool { return strings.Contains(s.logs.String(), "retention removed events") })
}

// receiptRESTRows are the hostile rows of POST /api/rooms/{room}/read and
// GET /api/me/rooms (TestHostileREST). ada's token may read general and
// news:*, not ops.
func receiptRESTRows(ada string) []httpRow {
	read := func(room, body string) hreq {
		return hreq{method: "POST", url: "/api/rooms/" + room + "/read", body: body, cred: cred{bearer: ada}}
	}
	return []httpRow{
		{name: "read: without a token", req: hreq{method: "POST", url: "/api/rooms/general/read", body: `{"offset":1}`}, wantStatus: 401, wantCode: "unauthorized"},
		{name: "read: offset not a number", req: read("general", `{"offset":"one"}`), wantStatus: 400, wantCode: "invalid_argument", wantMsg: "whole number"},
		{name: "read: negative offset", req: read("general", `{"offset":-1}`), wantStatus: 400, wantCode: "invalid_argument", wantMsg: "whole number"},
		{name: "read: no offset", req: read("general", `{}`), wantStatus: 400, wantCode: "invalid_argument", wantMsg: "whole number"},
		{name: "read: not JSON", req: read("general", `offset=1`), wantStatus: 400, wantCode: "invalid_argument"},
		{name: "read: offset beyond the head", req: read("general", `{"offset":99999999}`), wantStatus: 400, wantCode: "invalid_argument", wantMsg: "beyond"},
		{name: "read: unknown room", req: read("news:none", `{"offset":1}`), wantStatus: 404, wantCode: "not_found"},
		{name: "read: a room the token may not read", req: read("ops", `{"offset":1}`), wantStatus: 403, wantCode: "forbidden"},
		{name: "read: internal room", req: read("_x", `{"offset":1}`), wantStatus: 400, wantCode: "invalid_argument"},
		{name: "read: body over 4 KiB", req: read("general", `{"offset":1,"x":"`+strings.Repeat("x", 5000)+`"}`), wantStatus: 413, wantCode: "too_large"},
		{name: "read: cross-origin with the cookie", req: hreq{method: "POST", url: "/api/rooms/general/read", body: `{"offset":1}`, cred: cred{cookie: ada}, hdr: map[string]string{"Origin": evilOrigin}}, wantStatus: 403, wantCode: "forbidden", wantMsg: "cross-site request"},
		{name: "me/rooms: without a token", req: hreq{method: "GET", url: "/api/me/rooms"}, wantStatus: 401, wantCode: "unauthorized"},
		{name: "me/rooms: POST", req: hreq{method: "POST", url: "/api/me/rooms", cred: cred{bearer: ada}}, wantStatus: 405, wantCode: "method_not_allowed"},
	}
}

// receiptSIORows are the hostile rows of room:read and me:rooms
// (TestHostileSocketIO).
func receiptSIORows() []sioRow {
	read := func(arg map[string]any, code, msg string) sioStep {
		return sioStep{event: "room:read", arg: arg, wantCode: code, wantMsg: msg}
	}
	return []sioRow{
		{name: "room:read: offset not a number", steps: []sioStep{read(map[string]any{"room": "general", "offset": "one"}, "invalid_argument", "whole number")}},
		{name: "room:read: no offset", steps: []sioStep{read(map[string]any{"room": "general"}, "invalid_argument", "whole number")}},
		{name: "room:read: offset beyond the head", steps: []sioStep{read(map[string]any{"room": "general", "offset": 99999999}, "invalid_argument", "beyond")}},
		{name: "room:read: unknown room", steps: []sioStep{read(map[string]any{"room": "news:none", "offset": 1}, "not_found", "")}},
		{name: "room:read: a room the token may not read", steps: []sioStep{read(map[string]any{"room": "ops", "offset": 1}, "forbidden", "")}},
		{name: "room:read: no room", steps: []sioStep{read(map[string]any{"offset": 1}, "invalid_argument", "room")}},
		{name: "me:rooms with an argument is answered", steps: []sioStep{{event: "me:rooms", arg: map[string]any{"x": 1}}}},
	}
}
