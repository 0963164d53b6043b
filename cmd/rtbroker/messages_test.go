package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// msgServerFlags: tokens, an API key and the moderator role.
var msgServerFlags = []string{"--jwt-secret", testSecret, "--api-key", testAPIKey, "--moderator-role", "moderator"}

// folded reads room's whole folded view with c and returns the "text" of
// each message, failing on any error, in pages of limit.
func folded(t *testing.T, c cred, base, room string, limit int) []string {
	t.Helper()
	var out []string
	for after := uint64(0); ; {
		status, body, _ := c.do(t, "GET", fmt.Sprintf("%s/api/rooms/%s/messages?after=%d&limit=%d", base, room, after, limit), "")
		var p struct {
			Events []struct {
				Data struct{ Text string } `json:"data"`
			} `json:"events"`
			Next, Head uint64
			Epoch      string
		}
		if status != 200 || json.Unmarshal([]byte(body), &p) != nil || p.Epoch == "" {
			t.Fatalf("folded view: %d %s", status, body)
		}
		if len(p.Events) > limit {
			t.Fatalf("folded view: %d events for limit %d", len(p.Events), limit)
		}
		for _, e := range p.Events {
			out = append(out, e.Data.Text)
		}
		if p.Next >= p.Head {
			return out
		}
		after = p.Next
	}
}

// pubText publishes {"text": text} to room as c and returns the event.
func pubText(t *testing.T, c cred, base, room, text string) wireEvent {
	t.Helper()
	status, body, _ := c.do(t, "POST", base+"/api/rooms/"+room+"/events", fmt.Sprintf(`{"type":"chat:message","data":{"text":%q}}`, text))
	var ev wireEvent
	if status != 201 || json.Unmarshal([]byte(body), &ev) != nil {
		t.Fatalf("publish: %d %s", status, body)
	}
	return ev
}

// changeHTTP edits (text != "") or deletes ev in room over REST as c and
// returns the status and body.
func changeHTTP(t *testing.T, c cred, base, room string, ev wireEvent, text string) (int, string) {
	t.Helper()
	u := base + "/api/rooms/" + room + "/messages/" + ref(ev)
	if text == "" {
		status, body, _ := c.do(t, "DELETE", u, "")
		return status, body
	}
	status, body, _ := c.do(t, "PATCH", u, fmt.Sprintf(`{"data":{"text":%q}}`, text))
	return status, body
}

// TestMessagesPermissions: who may edit and delete a message, over REST
// and over Socket.IO (the real socket.io-client): its author, a token with
// the moderator role and an API key may; another user may not.
func TestMessagesPermissions(t *testing.T) {
	srv := startServer(t, "", msgServerFlags...)
	d := startSIODriver(t)
	alice := mint(t, "alice", nil)
	toks := map[string]string{
		"author":         alice,
		"another user":   mint(t, "bob", nil),
		"moderator role": mint(t, "mia", func(c jwt.MapClaims) { c["roles"] = []string{"moderator"} }),
		"other role":     mint(t, "oz", func(c jwt.MapClaims) { c["roles"] = []string{"admin"} }),
		"api key":        testAPIKey,
	}
	allowed := map[string]bool{"author": true, "moderator role": true, "api key": true}
	for _, transport := range []string{"http", "socketio"} {
		for _, who := range []string{"author", "another user", "moderator role", "other role", "api key"} {
			for _, op := range []string{"edit", "delete"} {
				t.Run(transport+"/"+who+"/"+op, func(t *testing.T) {
					orig := pubText(t, cred{bearer: alice}, srv.URL, "general", "original "+op)
					text := ""
					if op == "edit" {
						text = "edited by " + who
					}
					var ok bool
					var got string
					if transport == "http" {
						c := cred{bearer: toks[who]}
						if who == "api key" {
							c = cred{apiKey: testAPIKey}
						}
						status, body := changeHTTP(t, c, srv.URL, "general", orig, text)
						ok, got = status == 200, fmt.Sprint(status, " ", errCode(body))
						if !ok && (status != 403 || errCode(body) != "forbidden") {
							t.Fatalf("refused with %d %s, want 403 forbidden", status, body)
						}
					} else {
						name := strings.ReplaceAll(transport+who+op, " ", "-")
						if r := d.connect(name, srv.URL, toks[who], false); r["ok"] != true {
							t.Fatalf("connect: %v", r)
						}
						defer d.try("disconnect", map[string]any{"name": name})
						arg := map[string]any{"room": "general", "id": orig.ID, "offset": orig.Offset}
						if text != "" {
							arg["data"] = map[string]any{"text": text}
						}
						ack := d.emit(name, "message:"+op, arg)
						ok, got = ack["ok"] == true, fmt.Sprint(ack)
						if e, _ := ack["error"].(map[string]any); !ok && e["code"] != "forbidden" {
							t.Fatalf("refused with %v, want forbidden", ack)
						}
					}
					if ok != allowed[who] {
						t.Fatalf("%s by %s over %s: %s, want allowed=%v", op, who, transport, got, allowed[who])
					}
					view := folded(t, cred{bearer: alice}, srv.URL, "general", 100)
					last := ""
					if len(view) > 0 {
						last = view[len(view)-1]
					}
					switch {
					case !ok && last != orig.textOf(t):
						t.Fatalf("refused %s changed the view: last message %q", op, last)
					case ok && op == "edit" && last != text:
						t.Fatalf("view after the edit: last message %q, want %q", last, text)
					case ok && op == "delete" && last == "original delete":
						t.Fatalf("view after the delete still holds the message: %q", view)
					}
				})
			}
		}
	}
}

// textOf returns the "text" of ev's data.
func (e wireEvent) textOf(t *testing.T) string {
	t.Helper()
	var d struct{ Text string }
	if err := json.Unmarshal(e.Data, &d); err != nil {
		t.Fatal(err)
	}
	return d.Text
}

// TestMessagesSubscribers: a joined socket receives edits and deletes
// live, as message:edit {id, offset, data} and message:delete {id,
// offset}; a socket joining later with `after` receives them on replay,
// after the message they change.
func TestMessagesSubscribers(t *testing.T) {
	srv := startServer(t, "", msgServerFlags...)
	d := startSIODriver(t)
	alice := mint(t, "alice", nil)
	if r := d.connect("watch", srv.URL, mint(t, "watcher", nil), false); r["ok"] != true {
		t.Fatalf("connect: %v", r)
	}
	if ack := d.emit("watch", "room:join", map[string]any{"room": "general"}); ack["ok"] != true {
		t.Fatalf("join: %v", ack)
	}
	if r := d.connect("alice", srv.URL, alice, false); r["ok"] != true {
		t.Fatalf("connect: %v", r)
	}
	msg := pubText(t, cred{bearer: alice}, srv.URL, "general", "hello")
	ack := d.emit("alice", "message:edit", map[string]any{"room": "general", "id": msg.ID, "offset": fmt.Sprint(msg.Offset), "data": map[string]any{"text": "hello, edited"}})
	if ack["ok"] != true {
		t.Fatalf("edit: %v", ack)
	}
	status, body := changeHTTP(t, cred{bearer: alice}, srv.URL, "general", msg, "")
	var del wireEvent
	if status != 200 || json.Unmarshal([]byte(body), &del) != nil || del.Type != "message:delete" || del.From != "alice" {
		t.Fatalf("delete: %d %s", status, body)
	}
	check := func(t *testing.T, evs []sioEvent) {
		t.Helper()
		var got []string
		for _, e := range evs {
			got = append(got, fmt.Sprintf("%s %v %v %v", e.Event, e.Data["id"] == msg.ID, e.Data["offset"], e.Data["data"]))
		}
		want := []string{
			"chat:message false <nil> <nil>",
			fmt.Sprintf("message:edit true %d map[text:hello, edited]", msg.Offset),
			fmt.Sprintf("message:delete true %d <nil>", msg.Offset),
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("events\n%q\nwant\n%q", got, want)
		}
	}
	t.Run("live", func(t *testing.T) { check(t, d.until("watch", del.Offset)) })
	t.Run("on join with after", func(t *testing.T) {
		if r := d.connect("late", srv.URL, mint(t, "late", nil), false); r["ok"] != true {
			t.Fatalf("connect: %v", r)
		}
		if ack := d.emit("late", "room:join", map[string]any{"room": "general", "after": msg.Offset - 1}); ack["ok"] != true {
			t.Fatalf("join: %v", ack)
		}
		check(t, d.until("late", del.Offset))
	})
	t.Run("folded view", func(t *testing.T) {
		if view := folded(t, cred{bearer: alice}, srv.URL, "general", 10); len(view) != 0 {
			t.Fatalf("folded view %q after the delete, want empty", view)
		}
	})
}

// TestMessagesRestartAndRetention runs the real binary: the folded view
// survives a kill -9 (the change records are committed with the change
// events), a deleted message's text is in the raw history but never in
// the folded view, and once retention removed the original messages the
// view leaves them out and their edits are refused.
func TestMessagesRestartAndRetention(t *testing.T) {
	dir := t.TempDir()
	api := cred{apiKey: testAPIKey}
	cmd, base := startProcess(t, dir, "--api-key", testAPIKey)
	var m []wireEvent
	for i := range 4 {
		m = append(m, pubText(t, api, base, "general", fmt.Sprintf("m%d", i)))
	}
	m[2] = pubText(t, api, base, "general", "m2 secret") // replaces an m2 of no interest
	for _, c := range []struct {
		ev   wireEvent
		text string
	}{{m[1], "m1 v2"}, {m[2], ""}, {m[3], "m3 v2"}} {
		if status, body := changeHTTP(t, api, base, "general", c.ev, c.text); status != 200 {
			t.Fatalf("change: %d %s", status, body)
		}
	}
	// general: m0 m1 m2 m3 "m2 secret" edit(m1) delete("m2 secret") edit(m3)
	want := "[m0 m1 v2 m2 m3 v2]"
	if got := folded(t, api, base, "general", 2); fmt.Sprint(got) != want {
		t.Fatalf("folded view %q, want %q", got, want)
	}
	rawHas := func(base, s string) bool {
		_, body, _ := api.do(t, "GET", base+"/api/rooms/general/events?limit=1000", "")
		return strings.Contains(body, s)
	}
	_, view, _ := api.do(t, "GET", base+"/api/rooms/general/messages", "")
	if strings.Contains(view, "secret") || !rawHas(base, "secret") {
		t.Fatalf("deleted text: in the folded view %v, in the raw history %v; want false, true", strings.Contains(view, "secret"), rawHas(base, "secret"))
	}

	cmd.Process.Kill()
	cmd.Wait()
	cmd, base = startProcess(t, dir, "--api-key", testAPIKey)
	if got := folded(t, api, base, "general", 3); fmt.Sprint(got) != want {
		t.Fatalf("folded view after kill -9 and restart %q, want %q", got, want)
	}
	if status, body := changeHTTP(t, api, base, "general", m[2], "back"); status != 404 {
		t.Fatalf("edit of a deleted message after a restart: %d %s, want 404", status, body)
	}

	// Keep the newest 4 events: "m2 secret", the edit of m1, the delete and
	// the edit of m3. m0 to m3 are gone; so is every trace of them in the
	// view.
	cmd.Process.Kill()
	cmd.Wait()
	_, base = startProcess(t, dir, "--api-key", testAPIKey, "--retention-max-count", "4", "--retention-interval", "20ms", "--rebuild-messages")
	waitTrimmed(t, base, "general", 1, func(u string, v any) { getAPI(t, u, v) })
	if got := folded(t, api, base, "general", 10); len(got) != 0 {
		t.Fatalf("folded view after retention %q, want empty (the originals are gone, the secret stays deleted)", got)
	}
	if status, body := changeHTTP(t, api, base, "general", m[3], "late"); status != 404 || errCode(body) != "not_found" {
		t.Fatalf("edit of a trimmed message: %d %s, want 404 not_found", status, body)
	}
	if !rawHas(base, "secret") {
		t.Fatal("the raw history lost the deleted message before retention removed it")
	}
}
