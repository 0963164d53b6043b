package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// writePolicy writes a --policy file into the test's temp dir.
func writePolicy(t testing.TB, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// publishBody is a publish request body of type chat:message.
const publishBody = `{"type":"chat:message","data":{"text":"hi"}}`

// publishedOffset returns the offset of a 201 publish answer.
func publishedOffset(t testing.TB, status int, body string) uint64 {
	t.Helper()
	var ev struct{ Offset uint64 }
	if status != 201 || json.Unmarshal([]byte(body), &ev) != nil || ev.Offset == 0 {
		t.Fatalf("publish: %d %s", status, body)
	}
	return ev.Offset
}

// TestPolicyConfig: --policy and the flags reach the policy merging
// (gateways/auth, whose tests cover what it refuses): a policy that cannot
// be what was meant stops the server at startup, with an error that says
// where (and never shows a key); a flag set in the environment counts as
// set.
func TestPolicyConfig(t *testing.T) {
	const secretKey = "policy-key-never-shown"
	tests := []struct {
		name    string
		policy  string // "" = no --policy
		args    []string
		env     map[string]string
		wantErr string // "" = accepted
	}{
		{name: "full example", policy: `{
			"users": {"subscribe": ["general", "user:{sub}"], "publish": ["general"]},
			"anonymous": {"subscribe": ["general"], "publish": []},
			"namespaces": {"/admin": {"role": "admin", "users": {"subscribe": ["*"], "publish": ["room-*"]}}, "/chat": {"users": {"publish": ["*"]}, "anonymous": {"subscribe": ["lobby"]}}},
			"api_keys": [{"name": "newsbot", "key_sha256": "` + sha256Hex(secretKey) + `", "rooms": {"publish": ["news:*"]}}, {"key": "k2"}],
			"auto_join": ["user:{sub}"]}`},
		{name: "flags only", args: []string{"--user-subscribe", "lobby,inbox:{sub}", "--user-publish", "lobby", "--auto-join", "user:{sub}"}},
		{name: "missing file", policy: "-", wantErr: "no such file"},
		{name: "not JSON", policy: `{"users": `, wantErr: "policy.json: unexpected EOF"},
		{name: "users by file and flag", policy: `{"users": {"subscribe": ["a"]}}`, args: []string{"--user-publish", "b"}, wantErr: `"users" in the policy file and --user-publish`},
		{name: "anonymous by file and environment", policy: `{"anonymous": {"subscribe": ["a"]}}`, env: map[string]string{"RTBROKER_ANONYMOUS_PUBLISH": "*"}, wantErr: `"anonymous" in the policy file and --anonymous-publish`},
		{name: "auto_join by file and flag", policy: `{"auto_join": ["user:{sub}"]}`, args: []string{"--auto-join", "me:{sub}"}, wantErr: "--auto-join"},
		{name: "auto_join without the namespace /", args: []string{"--auto-join", "user:{sub}", "--sio-namespaces", "/admin"}, wantErr: "not served"},
		{name: "pattern with another placeholder", args: []string{"--user-subscribe", "user:{name}"}, wantErr: "{sub}"},
		{name: "bad key in the file", policy: `{"api_keys": [{"key": "` + secretKey + `", "key_sha256": "` + sha256Hex(secretKey) + `"}]}`, wantErr: "not both"},
		{name: "same key in the flag and the file", policy: `{"api_keys": [{"name": "x", "key_sha256": "` + sha256Hex(secretKey) + `"}]}`, args: []string{"--api-key", secretKey}, wantErr: "are the same key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--data", t.TempDir(), "--jwt-secret", testSecret}, tc.args...)
			switch tc.policy {
			case "":
			case "-":
				args = append(args, "--policy", filepath.Join(t.TempDir(), "missing.json"))
			default:
				args = append(args, "--policy", writePolicy(t, tc.policy))
			}
			cfg, err := parseConfig("serve", args, func(k string) string { return tc.env[k] }, io.Discard)
			if err == nil {
				var closeAuth func()
				if _, closeAuth, err = cfg.authenticator(context.Background(), slog.New(slog.DiscardHandler)); err == nil {
					closeAuth()
				}
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), secretKey) {
				t.Fatalf("the error shows the key: %v", err)
			}
		})
	}
}

// TestPolicyNamespaces: the namespaces of the policy are served, with
// their roles and auto-join rooms, beside --sio-namespaces.
func TestPolicyNamespaces(t *testing.T) {
	args := []string{"--data", t.TempDir(), "--jwt-secret", testSecret, "--sio-namespaces", "/,/chat", "--auto-join", "user:{sub}",
		"--policy", writePolicy(t, `{"namespaces": {"/admin": {"role": "admin", "auto_join": ["ops"]}, "/chat": {"users": {"subscribe": ["*"]}}}}`)}
	cfg, err := parseConfig("serve", args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cfg.sioNamespaces()
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%+v", ns)
	want := "[{Name:/ RoomPrefix: Role: AutoJoin:[user:{sub}]} {Name:/chat RoomPrefix: Role: AutoJoin:[]} {Name:/admin RoomPrefix: Role:admin AutoJoin:[ops]}]"
	if got != want {
		t.Fatalf("namespaces\n got %s\nwant %s", got, want)
	}
}

// TestPolicyUserDefaults: --user-subscribe/--user-publish (and a policy
// file's users, and a role-less namespace's users) add to every token's
// rooms claim, on every transport; {sub} is the token's subject.
func TestPolicyUserDefaults(t *testing.T) {
	noRooms := func(c jwt.MapClaims) { delete(c, "rooms") }
	type tcase struct {
		name, method, path, body string
		cred                     cred
		want                     int
	}
	run := func(t *testing.T, s *testServer, tests []tcase) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				st, body, _ := tc.cred.do(t, tc.method, s.URL+tc.path, tc.body)
				if st != tc.want {
					t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, st, body, tc.want)
				}
				if st == 403 && errCode(body) != "forbidden" {
					t.Fatalf("403 body %s", body)
				}
			})
		}
	}
	t.Run("flags", func(t *testing.T) {
		s := startServer(t, "", "--jwt-secret", testSecret, "--user-subscribe", "lobby,inbox:{sub}", "--user-publish", "lobby")
		bare := cred{bearer: mint(t, "ada", noRooms)}
		claimed := cred{bearer: mint(t, "bob", nil)}
		run(t, s, []tcase{
			{"publish to a default room", "POST", "/api/rooms/lobby/events", publishBody, bare, 201},
			{"publish elsewhere", "POST", "/api/rooms/general/events", publishBody, bare, 403},
			{"poll own inbox", "GET", "/poll?room=inbox:ada&after=0&timeout=0s", "", cred{query: bare.bearer}, 200},
			{"sse own inbox", "GET", "/sse?room=inbox:ada", "", cred{query: bare.bearer}, 200},
			{"history of own inbox", "GET", "/api/rooms/inbox:ada/events", "", bare, 200},
			{"poll another's inbox", "GET", "/poll?room=inbox:bob&after=0&timeout=0s", "", bare, 403},
			{"subscribe-only default", "POST", "/api/rooms/inbox:ada/events", publishBody, bare, 403},
			{"claim and defaults together: claim", "POST", "/api/rooms/general/events", publishBody, claimed, 201},
			{"claim and defaults together: default", "POST", "/api/rooms/lobby/events", publishBody, claimed, 201},
			{"anonymous gets nothing", "GET", "/poll?room=lobby&after=0&timeout=0s", "", cred{}, 401},
		})
	})
	t.Run("file", func(t *testing.T) {
		s := startServer(t, "", "--jwt-secret", testSecret, "--anonymous", "--policy", writePolicy(t, `{
			"users": {"subscribe": ["lobby"], "publish": ["lobby"], "history": []},
			"anonymous": {"subscribe": ["lobby"]},
			"namespaces": {"/chat": {"users": {"publish": ["*"]}}}}`))
		bare := cred{bearer: mint(t, "ada", noRooms)}
		run(t, s, []tcase{
			{"publish to a default room", "POST", "/api/rooms/lobby/events", publishBody, bare, 201},
			{"history withheld explicitly", "GET", "/api/rooms/lobby/events", "", bare, 403},
			{"namespace default, over HTTP", "POST", "/api/rooms/chat:x/events", publishBody, bare, 201},
			{"namespace default, only its rooms", "POST", "/api/rooms/chatx/events", publishBody, bare, 403},
			{"anonymous reads", "GET", "/poll?room=lobby&after=0&timeout=0s", "", cred{}, 200},
			{"anonymous does not publish", "POST", "/api/rooms/lobby/events", publishBody, cred{}, 403},
			{"anonymous does not get the users defaults", "POST", "/api/rooms/chat:x/events", publishBody, cred{}, 403},
		})
	})
}

// TestPolicyAPIKeyScopes: a scoped key does what its scope allows and
// gets 403 (JSON) for the rest, publishes as api:<name>, is never logged,
// and leaves nothing in the log when refused; the backup needs an admin
// key; the unscoped --api-key works as before.
func TestPolicyAPIKeyScopes(t *testing.T) {
	const (
		fullKey   = "full-key-do-not-log-000"
		newsKey   = "news-key-do-not-log-111"
		backupKey = "backup-key-do-not-log-222"
		otherKey  = "other-key-do-not-log-333"
	)
	s := startServer(t, "", "--jwt-secret", testSecret, "--api-key", fullKey, "--log-level", "debug", "--policy", writePolicy(t, `{"api_keys": [
		{"name": "newsbot", "key_sha256": "`+sha256Hex(newsKey)+`", "rooms": {"publish": ["news:*"]}},
		{"name": "backup", "key": "`+backupKey+`", "rooms": {}, "admin": true},
		{"key": "`+otherKey+`", "rooms": {"subscribe": ["ops"]}}]}`))
	news, full, backup, other := cred{apiKey: newsKey}, cred{bearer: fullKey}, cred{apiKey: backupKey}, cred{bearer: otherKey}
	tests := []struct {
		name, method, path, body string
		cred                     cred
		want                     int
		wantFrom                 string
	}{
		{"scoped key publishes in scope", "POST", "/api/rooms/news:sports/events", publishBody, news, 201, "api:newsbot"},
		{"scoped key as bearer", "POST", "/api/rooms/news:sports/events", publishBody, cred{bearer: newsKey}, 201, "api:newsbot"},
		{"scoped key out of scope", "POST", "/api/rooms/general/events", publishBody, news, 403, ""},
		{"scoped key ephemeral out of scope", "POST", "/api/rooms/general/events", `{"type":"t","data":1,"ephemeral":true}`, news, 403, ""},
		{"scoped key has no history", "GET", "/api/rooms/news:sports/events", "", news, 403, ""},
		{"scoped key cannot subscribe", "GET", "/sse?room=news:sports", "", news, 403, ""},
		{"scoped key cannot poll", "GET", "/poll?room=news:sports&after=0&timeout=0s", "", news, 403, ""},
		{"scoped key, no backup", "GET", "/api/backup", "", news, 403, ""},
		{"scoped key in the query is refused", "POST", "/api/rooms/news:x/events", publishBody, cred{query: newsKey}, 401, ""},
		{"unnamed scoped key reads its room", "GET", "/poll?room=ops&after=0&timeout=0s", "", other, 200, ""},
		{"unnamed scoped key publishes nowhere", "POST", "/api/rooms/ops/events", publishBody, other, 403, ""},
		{"admin-only key takes the backup", "GET", "/api/backup", "", backup, 200, ""},
		{"admin-only key publishes nowhere", "POST", "/api/rooms/news:x/events", publishBody, backup, 403, ""},
		{"unscoped --api-key publishes anywhere", "POST", "/api/rooms/general/events", publishBody, full, 201, "api"},
		{"unscoped --api-key takes the backup", "GET", "/api/backup", "", full, 200, ""},
		{"a token takes no backup", "GET", "/api/backup", "", cred{bearer: mint(t, "ada", nil)}, 403, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, body, _ := tc.cred.do(t, tc.method, s.URL+tc.path, tc.body)
			if st != tc.want {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, st, body, tc.want)
			}
			if st == 403 {
				var e struct {
					Error struct{ Code, Message string }
				}
				if json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != "forbidden" || e.Error.Message == "" {
					t.Fatalf("403 body %s, want {\"error\":{\"code\":\"forbidden\",\"message\":…}}", body)
				}
			}
			if tc.wantFrom != "" {
				var ev struct{ From string }
				if json.Unmarshal([]byte(body), &ev); ev.From != tc.wantFrom {
					t.Fatalf("from %q, want %q", ev.From, tc.wantFrom)
				}
			}
		})
	}

	// Over Socket.IO, the same scope.
	d := startSIODriver(t)
	if m := d.connect("news", s.URL, newsKey, false); m["ok"] != true {
		t.Fatalf("connect with the scoped key: %v", m)
	}
	if ack := d.emit("news", "headline", map[string]any{"room": "news:world", "text": "x"}); ack["ok"] != true {
		t.Fatalf("in-scope Socket.IO publish: %v", ack)
	}
	ack := d.emit("news", "chat:message", map[string]any{"room": "general", "text": "x"})
	if e, _ := ack["error"].(map[string]any); ack["ok"] != false || e["code"] != "forbidden" {
		t.Fatalf("out-of-scope Socket.IO publish: %v", ack)
	}
	if ack := d.emit("news", "room:join", map[string]any{"room": "news:world"}); ack["ok"] != false {
		t.Fatalf("scoped key joined a room it may not subscribe to: %v", ack)
	}

	// Only the allowed publishes are in the log: read everything back.
	st, body, _ := full.do(t, "GET", s.URL+"/api/rooms", "")
	if st != 200 {
		t.Fatalf("rooms: %d %s", st, body)
	}
	var rooms struct{ Rooms []struct{ Room string } }
	json.Unmarshal([]byte(body), &rooms)
	var got []string
	for _, r := range rooms.Rooms {
		_, hb, _ := full.do(t, "GET", s.URL+"/api/rooms/"+r.Room+"/events?after=0", "")
		var h struct{ Events []struct{ Type, From string } }
		json.Unmarshal([]byte(hb), &h)
		for _, e := range h.Events {
			got = append(got, r.Room+" "+e.Type+" "+e.From)
		}
	}
	slices.Sort(got)
	want := []string{"general chat:message api", "news:sports chat:message api:newsbot", "news:sports chat:message api:newsbot", "news:world headline api:newsbot"}
	if !slices.Equal(got, want) {
		t.Fatalf("log holds %q, want %q", got, want)
	}
	s.Stop(t)
	logs := s.logs.String()
	for _, k := range []string{fullKey, newsKey, backupKey, otherKey, sha256Hex(newsKey)} {
		if strings.Contains(logs, k) {
			t.Fatalf("a key was logged:\n%s", logs)
		}
	}
}

// TestPolicyNamespaceRole: with the real socket.io-client, a socket
// connecting to /admin without the admin role gets connect_error
// forbidden while its / socket on the same connection keeps working; with
// the role, the namespace's default permissions apply to its rooms, over
// Socket.IO and the other transports alike.
func TestPolicyNamespaceRole(t *testing.T) {
	s := startServer(t, "", "--jwt-secret", testSecret, "--anonymous", "--anonymous-subscribe", "general", "--anonymous-publish=", "--policy", writePolicy(t, `{
		"users": {"subscribe": ["general"], "publish": ["general"]},
		"namespaces": {"/admin": {"role": "admin", "users": {"subscribe": ["room-*"], "publish": ["room-*"]}}}}`))
	noRooms := func(c jwt.MapClaims) { delete(c, "rooms") }
	ada := mint(t, "ada", noRooms)
	root := mint(t, "root", func(c jwt.MapClaims) { noRooms(c); c["roles"] = []string{"admin"} })
	d := startSIODriver(t)

	// ada: / and /admin on one connection.
	if m := d.connect("ada", s.URL, ada, true); m["ok"] != true {
		t.Fatalf("ada on /: %v", m)
	}
	m := d.connect("adaAdmin", s.URL+"/admin", ada, true)
	e := fmt.Sprint(m["error"])
	if m["ok"] == true || !strings.HasPrefix(e, `{"message":"forbidden","data":{"code":"forbidden","message":"forbidden: namespace /admin needs the role \"admin\""},`) {
		t.Fatalf("ada on /admin: %v", m)
	}
	if ack := d.emit("ada", "room:join", map[string]any{"room": "general"}); ack["ok"] != true {
		t.Fatalf("ada's / socket after the refusal: join %v", ack)
	}
	ack := d.emit("ada", "chat:message", map[string]any{"room": "general", "text": "still here"})
	if ack["ok"] != true {
		t.Fatalf("ada's / socket after the refusal: publish %v", ack)
	}
	if evs := d.until("ada", uint64(ack["offset"].(float64))); len(evs) != 1 || evs[0].Meta.From != "ada" {
		t.Fatalf("ada received %+v", evs)
	}
	// Anonymous: unauthorized.
	m = d.connect("anonAdmin", s.URL+"/admin", "", false)
	if e := fmt.Sprint(m["error"]); m["ok"] == true || !strings.HasPrefix(e, `{"message":"unauthorized","data":{"code":"unauthorized"`) {
		t.Fatalf("anonymous on /admin: %v", m)
	}

	// root has the role: the namespace's defaults, relative to its rooms.
	if m := d.connect("root", s.URL+"/admin", root, false); m["ok"] != true {
		t.Fatalf("root on /admin: %v", m)
	}
	if ack := d.emit("root", "room:join", map[string]any{"room": "room-1"}); ack["ok"] != true {
		t.Fatalf("root join room-1: %v", ack)
	}
	if ack := d.emit("root", "room:join", map[string]any{"room": "general"}); ack["ok"] != false {
		t.Fatalf("root join /admin's general (admin:general, not granted): %v", ack)
	}
	ack = d.emit("root", "alert", map[string]any{"room": "room-1", "level": 2})
	if ack["ok"] != true {
		t.Fatalf("root publish: %v", ack)
	}
	if evs := d.until("root", uint64(ack["offset"].(float64))); len(evs) != 1 || evs[0].Meta.Room != "room-1" || evs[0].Meta.From != "root" {
		t.Fatalf("root received %+v", evs)
	}
	// The same rooms over the other transports: log room admin:room-1.
	for _, tc := range []struct {
		cred cred
		path string
		want int
	}{
		{cred{query: root}, "/sse?room=admin:room-1", 200},
		{cred{bearer: root}, "/api/rooms/admin:room-1/events", 200},
		{cred{query: ada}, "/sse?room=admin:room-1", 403},
		{cred{bearer: ada}, "/poll?room=admin:room-1&after=0&timeout=0s", 403},
	} {
		if st, b, _ := tc.cred.do(t, "GET", s.URL+tc.path, ""); st != tc.want {
			t.Errorf("GET %s: %d %s, want %d", tc.path, st, b, tc.want)
		}
	}
}

// TestPolicyAutoJoin: with --auto-join user:{sub}, every Socket.IO
// connection of a user (real socket.io-client) gets what is published to
// its user room, another user's connection nothing; a connection that
// drops recovers its session with the room and gets what it missed, once.
func TestPolicyAutoJoin(t *testing.T) {
	const key = "auto-join-api-key"
	s := startServer(t, "", "--jwt-secret", testSecret, "--api-key", key, "--auto-join", "user:{sub}")
	server := cred{apiKey: key}
	notify := func(user, text string) uint64 {
		t.Helper()
		st, body, _ := server.do(t, "POST", s.URL+"/api/rooms/user:"+user+"/events", `{"type":"notify","data":{"text":"`+text+`"}}`)
		return publishedOffset(t, st, body)
	}
	d := startSIODriver(t)
	for _, c := range []struct{ name, sub string }{{"ada1", "ada"}, {"ada2", "ada"}, {"bob", "bob"}} {
		// The token does not grant user:{sub}: the server joins it anyway.
		tok := mint(t, c.sub, func(cl jwt.MapClaims) { cl["rooms"] = map[string]any{"subscribe": []string{"general"}} })
		if m := d.connect(c.name, s.URL, tok, false); m["ok"] != true {
			t.Fatalf("connect %s: %v", c.name, m)
		}
	}
	dm := notify("ada", "for ada")
	for _, name := range []string{"ada1", "ada2"} {
		evs := d.until(name, dm)
		if len(evs) != 1 || evs[0].Event != "notify" || evs[0].Meta.Room != "user:ada" || evs[0].Data["text"] != "for ada" || evs[0].Meta.From != "api" {
			t.Fatalf("%s received %+v", name, evs)
		}
	}
	marker := notify("bob", "for bob")
	if evs := d.until("bob", marker); !slices.Equal(offsets(evs), []uint64{marker}) {
		t.Fatalf("bob received %v, want only his own %d", offsets(evs), marker)
	}

	// ada1 drops its connection; what is published meanwhile arrives once
	// after it recovers its session (which kept the room).
	d.do("engineClose", map[string]any{"name": "ada1"})
	missed := notify("ada", "while away")
	if m := d.do("waitConnect", map[string]any{"name": "ada1"}); m["recovered"] != true {
		t.Fatalf("ada1 reconnect: %v", m)
	}
	next := notify("ada", "after")
	if evs := d.until("ada1", next); !slices.Equal(offsets(evs), []uint64{missed, next}) {
		t.Fatalf("ada1 after recovery received %v, want [%d %d]", offsets(evs), missed, next)
	}
	if evs := d.until("ada2", next); !slices.Equal(offsets(evs), []uint64{missed, next}) {
		t.Fatalf("ada2 received %v, want [%d %d]", offsets(evs), missed, next)
	}
	last := notify("bob", "last")
	if evs := d.until("bob", last); !slices.Equal(offsets(evs), []uint64{last}) {
		t.Fatalf("bob received %v, want only %d", offsets(evs), last)
	}
}

// TestPolicyREADMEExample loads the policy example of the README's
// Security section and checks what the README says it does.
func TestPolicyREADMEExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "**Policy.**")
	_, rest, ok2 := strings.Cut(rest, "```json\n")
	doc, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("no policy example in the README's **Policy.** paragraph")
	}
	s := startServer(t, "", "--jwt-secret", testSecret, "--policy", writePolicy(t, doc))
	noRooms := func(c jwt.MapClaims) { delete(c, "rooms") }
	ada := mint(t, "ada", noRooms)
	admin := mint(t, "ada", func(c jwt.MapClaims) { noRooms(c); c["roles"] = []string{"admin"} })
	for _, tc := range []struct {
		name, method, path, body string
		cred                     cred
		want                     int
		wantFrom                 string
	}{
		{"token reads general", "GET", "/poll?room=general&after=0&timeout=0s", "", cred{bearer: ada}, 200, ""},
		{"token reads its user room", "GET", "/api/rooms/user:ada/events", "", cred{bearer: ada}, 200, ""},
		{"token publishes to general", "POST", "/api/rooms/general/events", publishBody, cred{bearer: ada}, 201, "ada"},
		{"token does not publish to news", "POST", "/api/rooms/news:x/events", publishBody, cred{bearer: ada}, 403, ""},
		{"token does not read /admin's rooms", "GET", "/sse?room=admin:room-1", "", cred{query: ada}, 403, ""},
		{"admin token reads /admin's rooms", "GET", "/sse?room=admin:room-1", "", cred{query: admin}, 200, ""},
		{"admin token publishes to room-*", "POST", "/api/rooms/admin:room-1/events", publishBody, cred{bearer: admin}, 201, "ada"},
		{"admin token does not publish elsewhere in /admin", "POST", "/api/rooms/admin:ops/events", publishBody, cred{bearer: admin}, 403, ""},
		{"newsbot publishes news", "POST", "/api/rooms/news:x/events", publishBody, cred{apiKey: "newsbot-example-key"}, 201, "api:newsbot"},
		{"newsbot does not publish elsewhere", "POST", "/api/rooms/general/events", publishBody, cred{apiKey: "newsbot-example-key"}, 403, ""},
		{"backup key takes the backup", "GET", "/api/backup", "", cred{apiKey: "backup-example-key"}, 200, ""},
		{"backup key publishes nowhere", "POST", "/api/rooms/general/events", publishBody, cred{apiKey: "backup-example-key"}, 403, ""},
		{"ops publishes anywhere", "POST", "/api/rooms/anything/events", publishBody, cred{apiKey: "ops-example-key"}, 201, "api:ops"},
		{"anonymous is off", "GET", "/poll?room=general&after=0&timeout=0s", "", cred{}, 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, body, _ := tc.cred.do(t, tc.method, s.URL+tc.path, tc.body)
			if st != tc.want {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, st, body, tc.want)
			}
			if tc.wantFrom != "" {
				var ev struct{ From string }
				if json.Unmarshal([]byte(body), &ev); ev.From != tc.wantFrom {
					t.Fatalf("from %q, want %q", ev.From, tc.wantFrom)
				}
			}
		})
	}
	// Socket.IO: /admin refused, /chat and / joined to their auto-join rooms.
	d := startSIODriver(t)
	if m := d.connect("admin", s.URL+"/admin", ada, false); m["ok"] == true {
		t.Fatalf("a token without the admin role connected to /admin")
	}
	for _, name := range []string{"chat", "main"} {
		url := s.URL
		if name == "chat" {
			url += "/chat"
		}
		if m := d.connect(name, url, ada, false); m["ok"] != true {
			t.Fatalf("connect to %s: %v", url, m)
		}
	}
	ops := cred{apiKey: "ops-example-key"}
	st, body, _ := ops.do(t, "POST", s.URL+"/api/rooms/chat:lobby/events", publishBody)
	if evs := d.until("chat", publishedOffset(t, st, body)); len(evs) != 1 || evs[0].Meta.Room != "lobby" {
		t.Fatalf("/chat socket received %+v", evs)
	}
	st, body, _ = ops.do(t, "POST", s.URL+"/api/rooms/user:ada/events", publishBody)
	if evs := d.until("main", publishedOffset(t, st, body)); len(evs) != 1 || evs[0].Meta.Room != "user:ada" {
		t.Fatalf("/ socket received %+v", evs)
	}
}
