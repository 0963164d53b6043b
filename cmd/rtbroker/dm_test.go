package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestDirectMessages: a dm:{a}:{b} room is open to its two users on every
// transport without a policy entry, refused to a third user (even one
// whose token says "*") and to an unsorted name, and open to an API key
// by its scope; a DM sent while its recipient is offline is there when
// the recipient connects.
func TestDirectMessages(t *testing.T) {
	scopedKey := "dm-notifier-key-0123456789"
	policy := writePolicy(t, `{"api_keys": [{"name": "notifier", "key": "`+scopedKey+`", "rooms": {"publish": ["dm:*"]}}]}`)
	s := startServer(t, "", "--jwt-secret", testSecret, "--api-key", testAPIKey, "--policy", policy)
	noRooms := func(c jwt.MapClaims) { delete(c, "rooms") }
	ada, bob := mint(t, "ada", noRooms), mint(t, "bob", noRooms)
	eve := mint(t, "eve", func(c jwt.MapClaims) {
		c["rooms"] = map[string]any{"subscribe": []string{"*"}, "publish": []string{"*"}}
	})
	const dm = "dm:ada:bob"
	pub := `{"type":"chat:message","data":{"text":"hi"}}`

	// ada writes to bob, who is offline (no connection anywhere).
	if st, body, _ := (cred{bearer: ada}).do(t, "POST", s.URL+"/api/rooms/"+dm+"/events", `{"type":"chat:message","data":{"text":"are you there?"}}`); st != 201 {
		t.Fatalf("ada's DM: %d %s", st, body)
	}

	type tcase struct {
		name       string
		cred       cred
		method     string
		path, body string
		wantStatus int
	}
	var tests []tcase
	for _, u := range []struct {
		who  string
		cred cred
		want int
	}{
		{"ada", cred{bearer: ada}, 200},
		{"bob", cred{query: bob}, 200},
		{"eve (token with *)", cred{bearer: eve}, 403},
	} {
		pubWant := u.want
		if pubWant == 200 {
			pubWant = 201
		}
		tests = append(tests,
			tcase{u.who + " publishes", u.cred, "POST", "/api/rooms/" + dm + "/events", pub, pubWant},
			tcase{u.who + " reads history", u.cred, "GET", "/api/rooms/" + dm + "/events?after=0", "", u.want},
			tcase{u.who + " streams SSE", u.cred, "GET", "/sse?room=" + dm, "", u.want},
			tcase{u.who + " long-polls", u.cred, "GET", "/poll?room=" + dm + "&after=0&timeout=0s", "", u.want},
			tcase{u.who + " long-polls with presence events", u.cred, "GET", "/poll?room=" + dm + "&after=0&timeout=0s&presence=1", "", u.want},
			tcase{u.who + " reads presence", u.cred, "GET", "/api/rooms/" + dm + "/presence", "", u.want},
		)
	}
	tests = append(tests,
		tcase{"unsorted name, its own user publishes", cred{bearer: ada}, "POST", "/api/rooms/dm:bob:ada/events", pub, 403},
		tcase{"unsorted name, its own user streams", cred{bearer: bob}, "GET", "/sse?room=dm:bob:ada", "", 403},
		tcase{"unsorted name, unscoped API key", cred{apiKey: testAPIKey}, "POST", "/api/rooms/dm:bob:ada/events", pub, 403},
		tcase{"unscoped API key publishes a notification", cred{apiKey: testAPIKey}, "POST", "/api/rooms/" + dm + "/events", pub, 201},
		tcase{"unscoped API key reads", cred{apiKey: testAPIKey}, "GET", "/api/rooms/" + dm + "/events", "", 200},
		tcase{"key scoped to dm:* publishes", cred{apiKey: scopedKey}, "POST", "/api/rooms/" + dm + "/events", pub, 201},
		tcase{"key scoped to dm:* may not read", cred{apiKey: scopedKey}, "GET", "/api/rooms/" + dm + "/events", "", 403},
	)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, body, _ := tc.cred.do(t, tc.method, s.URL+tc.path, tc.body)
			if st != tc.wantStatus {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, st, body, tc.wantStatus)
			}
			if st == 403 && errCode(body) != "forbidden" {
				t.Fatalf("403 body %s, want code forbidden", body)
			}
		})
	}

	// Socket.IO: join and publish.
	d := startSIODriver(t)
	for _, u := range []struct {
		name, token string
		ok          bool
	}{{"bob", bob, true}, {"eve", eve, false}} {
		t.Run("socket.io "+u.name, func(t *testing.T) {
			if r := d.connect(u.name, s.URL, u.token, false); r["ok"] != true {
				t.Fatalf("connect: %v", r)
			}
			join := d.emit(u.name, "room:join", map[string]any{"room": dm, "after": 0, "presence": true})
			send := d.emit(u.name, "chat:message", map[string]any{"room": dm, "text": "from " + u.name})
			who := d.emit(u.name, "room:presence", map[string]any{"room": dm})
			for what, ack := range map[string]map[string]any{"join": join, "publish": send, "presence": who} {
				if u.ok != (ack["ok"] == true) {
					t.Fatalf("%s ack %v, want ok %v", what, ack, u.ok)
				}
				if !u.ok {
					if e, _ := ack["error"].(map[string]any); e["code"] != "forbidden" {
						t.Fatalf("%s ack %v, want forbidden", what, ack)
					}
				}
			}
			unsorted := d.emit(u.name, "room:join", map[string]any{"room": "dm:bob:ada"})
			if e, _ := unsorted["error"].(map[string]any); e["code"] != "forbidden" || !strings.Contains(e["message"].(string), "not a direct-message room") {
				t.Fatalf("unsorted join ack %v", unsorted)
			}
			if !u.ok {
				return
			}
			// bob, offline when ada wrote, gets her message first, then
			// the rest of the room, ending with his own.
			marker := uint64(send["offset"].(float64))
			evs := slices.DeleteFunc(d.until(u.name, marker), func(e sioEvent) bool { return e.Meta.Offset == 0 }) // presence events
			if len(evs) == 0 || evs[0].Data["text"] != "are you there?" || evs[0].Meta.From != "ada" {
				t.Fatalf("bob's first DM event %+v, want ada's offline message", evs)
			}
		})
	}

	// The rooms list shows the DM to its users only.
	for who, c := range map[string]cred{"ada": {bearer: ada}, "eve": {bearer: eve}} {
		_, body, _ := c.do(t, "GET", s.URL+"/api/rooms", "")
		var list struct{ Rooms []struct{ Room string } }
		json.Unmarshal([]byte(body), &list)
		listed := false
		for _, r := range list.Rooms {
			listed = listed || r.Room == dm
		}
		if listed != (who == "ada") {
			t.Errorf("%s's rooms list %s: DM listed %v", who, body, listed)
		}
	}
}
