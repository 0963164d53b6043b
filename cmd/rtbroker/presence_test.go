package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtbroker/rtbroker/gateways/socketio/socketiotest"
)

// presenceList is the body of GET /api/rooms/{room}/presence and the ack
// of room:presence.
type presenceList struct {
	OK        bool   `json:"ok"`
	Room      string `json:"room"`
	Count     int    `json:"count"`
	Anonymous int    `json:"anonymous"`
	Listed    bool   `json:"listed"`
	Members   []struct {
		User        string    `json:"user"`
		Connections int       `json:"connections"`
		Since       time.Time `json:"since"`
		Transports  []string  `json:"transports"`
	} `json:"members"`
}

// summary is the list as "user:connections:transports" strings.
func (p presenceList) summary() string {
	var out []string
	for _, m := range p.Members {
		out = append(out, fmt.Sprintf("%s:%d:%v", m.User, m.Connections, m.Transports))
	}
	return fmt.Sprintf("count=%d anonymous=%d listed=%v %v", p.Count, p.Anonymous, p.Listed, out)
}

// getPresence GETs the room's presence with token, expecting status.
func getPresence(t *testing.T, base, room, token string, status int) presenceList {
	t.Helper()
	code, body, _ := cred{bearer: token}.do(t, http.MethodGet, base+"/api/rooms/"+room+"/presence", "")
	if code != status {
		t.Fatalf("GET presence of %s: status %d, want %d: %s", room, code, status, body)
	}
	var p presenceList
	if status == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
	} else if errCode(body) != "forbidden" {
		t.Fatalf("GET presence: body %s, want code forbidden", body)
	}
	return p
}

// presenceToken is a token of sub for the room "general" (presence
// included, as it defaults to subscribe), or without presence.
func presenceToken(t *testing.T, sub string, presence bool) string {
	return mint(t, sub, func(c jwt.MapClaims) {
		rooms := map[string]any{"subscribe": []string{"general"}, "publish": []string{"general"}}
		if !presence {
			rooms["presence"] = []string{}
		}
		c["rooms"] = rooms
	})
}

// nextPresence waits until socket name receives a presence event of
// user, skipping others, and returns its type and count.
func nextPresence(t *testing.T, d *sioDriver, name, user string) (string, int) {
	t.Helper()
	for {
		for _, ev := range d.WaitEvents(name, 1) {
			if ev.Event != "presence:join" && ev.Event != "presence:leave" {
				continue
			}
			var data struct {
				User  string `json:"user"`
				Count int    `json:"count"`
			}
			json.Unmarshal(ev.Args[0], &data)
			if data.User == user {
				return ev.Event, data.Count
			}
		}
	}
}

// TestPresence: a user's Socket.IO socket and SSE stream make one member
// with two connections; the others are told of arrivals and departures
// (also a killed client's and a long-poll client's that stopped
// polling); the presence permission guards both requests; there are no
// ghost members after a restart.
func TestPresence(t *testing.T) {
	node, _ := socketiotest.NeedNode(t)
	dir := t.TempDir()
	srv := startServer(t, dir, "--jwt-secret", testSecret, "--presence-poll-grace", "300ms", "--presence-events")
	base := srv.URL
	ada, bob, carol, dave := presenceToken(t, "ada", true), presenceToken(t, "bob", true), presenceToken(t, "carol", true), presenceToken(t, "dave", true)
	d := startSIODriver(t)

	d.connect("bob", base, bob, false)
	d.emit("bob", "room:join", map[string]any{"room": "general"})
	if typ, n := nextPresence(t, d, "bob", "bob"); typ != "presence:join" || n != 1 {
		t.Fatalf("bob's own join: %s %d", typ, n)
	}

	// Ada over Socket.IO and SSE: one member, two connections.
	d.connect("ada", base, ada, false)
	d.emit("ada", "room:join", map[string]any{"room": "general"})
	if typ, n := nextPresence(t, d, "bob", "ada"); typ != "presence:join" || n != 2 {
		t.Fatalf("ada's join: %s %d", typ, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sse, err := openSSE(ctx, newStreamClient(), base+"/sse?room=general&token="+ada, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := getPresence(t, base, "general", bob, http.StatusOK).summary(); got != "count=2 anonymous=0 listed=true [ada:2:[socket.io sse] bob:1:[socket.io]]" {
		t.Fatalf("presence: %s", got)
	}
	var ack presenceList
	b, _ := json.Marshal(d.emit("bob", "room:presence", map[string]any{"room": "general"}))
	json.Unmarshal(b, &ack)
	if !ack.OK || ack.Room != "general" || ack.summary() != "count=2 anonymous=0 listed=true [ada:2:[socket.io sse] bob:1:[socket.io]]" {
		t.Fatalf("room:presence ack: %s", b)
	}
	sse.close()
	d.do("disconnect", map[string]any{"name": "ada"})
	if typ, n := nextPresence(t, d, "bob", "ada"); typ != "presence:leave" || n != 1 {
		t.Fatalf("ada's leave: %s %d", typ, n)
	}

	t.Run("killed client leaves", func(t *testing.T) {
		cmd := exec.Command(node, "testdata/presence-member.mjs", base, carol, "general")
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, `{"phase":"joined"`) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("client: %q %v", line, err)
		}
		if typ, _ := nextPresence(t, d, "bob", "carol"); typ != "presence:join" {
			t.Fatalf("carol: %s", typ)
		}
		cmd.Process.Kill() // SIGKILL: no goodbye
		cmd.Wait()
		if typ, n := nextPresence(t, d, "bob", "carol"); typ != "presence:leave" || n != 1 {
			t.Fatalf("carol after the kill: %s %d", typ, n)
		}
	})

	t.Run("long-poll comes and goes", func(t *testing.T) {
		code, body, _ := cred{bearer: dave}.do(t, http.MethodGet, base+"/poll?room=general&timeout=0", "")
		if code != http.StatusOK {
			t.Fatalf("poll: %d %s", code, body)
		}
		if typ, n := nextPresence(t, d, "bob", "dave"); typ != "presence:join" || n != 2 {
			t.Fatalf("dave: %s %d", typ, n)
		}
		if typ, n := nextPresence(t, d, "bob", "dave"); typ != "presence:leave" || n != 1 {
			t.Fatalf("dave after his grace: %s %d", typ, n)
		}
	})

	t.Run("permission", func(t *testing.T) {
		eve := presenceToken(t, "eve", false)
		getPresence(t, base, "general", eve, http.StatusForbidden)
		d.connect("eve", base, eve, false)
		ack := d.emit("eve", "room:presence", map[string]any{"room": "general"})
		if e, _ := ack["error"].(map[string]any); ack["ok"] != false || e["code"] != "forbidden" {
			t.Fatalf("room:presence without the permission: %v", ack)
		}
		code, _, _ := cred{}.do(t, http.MethodGet, base+"/api/rooms/general/presence", "")
		if code != http.StatusUnauthorized {
			t.Fatalf("without a token: %d", code)
		}
	})

	t.Run("no ghosts after a restart", func(t *testing.T) {
		srv.Stop(t)
		srv2 := startServer(t, dir, "--jwt-secret", testSecret)
		if got := getPresence(t, srv2.URL, "general", bob, http.StatusOK).summary(); got != "count=0 anonymous=0 listed=true []" {
			t.Fatalf("after restart: %s", got)
		}
	})
}

// TestPresenceCountsOnly: above --presence-max-list users, presence is
// answered with counts and no list, and the events still carry the user
// and the count only.
func TestPresenceCountsOnly(t *testing.T) {
	srv := startServer(t, "", "--jwt-secret", testSecret, "--presence-max-list", "1", "--presence-events")
	d := startSIODriver(t)
	for _, u := range []string{"ada", "bob"} {
		d.connect(u, srv.URL, presenceToken(t, u, true), false)
		d.emit(u, "room:join", map[string]any{"room": "general"})
	}
	evs := d.WaitEvents("ada", 2) // ada's own join, then bob's
	var data map[string]any
	if len(evs) == 2 {
		json.Unmarshal(evs[1].Args[0], &data)
	}
	if len(evs) != 2 || evs[1].Event != "presence:join" || fmt.Sprint(data) != "map[count:2 user:bob]" {
		t.Fatalf("ada received %v", evs)
	}
	p := getPresence(t, srv.URL, "general", presenceToken(t, "ada", true), http.StatusOK)
	if p.Count != 2 || p.Listed || p.Members != nil {
		t.Fatalf("presence above the limit: %s", p.summary())
	}
}
