package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// adminConn is a row of GET /api/admin/connections.
type adminConn struct {
	ID        string   `json:"id"`
	Transport string   `json:"transport"`
	Engine    string   `json:"engine"`
	Namespace string   `json:"namespace"`
	User      string   `json:"user"`
	Rooms     []string `json:"rooms"`
	Lag       int      `json:"lag"`
	Remote    string   `json:"remote"`
	Since     string   `json:"since"`
}

// adminGet GETs an admin route with c's credential and decodes the answer.
func adminGet(t *testing.T, c cred, u string, v any) {
	t.Helper()
	status, body, _ := c.do(t, "GET", u, "")
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, status, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v in %s", u, err, body)
	}
}

// waitConns waits until the admin API lists want connections of room,
// and returns them by transport.
func waitConns(t *testing.T, c cred, base, room string, want int) map[string]adminConn {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var out struct {
			Connections []adminConn `json:"connections"`
			Total       int         `json:"total"`
		}
		adminGet(t, c, base+"/api/admin/connections?room="+room, &out)
		if len(out.Connections) == want {
			m := map[string]adminConn{}
			for _, cn := range out.Connections {
				m[cn.Transport] = cn
			}
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections of %s: %+v, want %d", room, out, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAdminAPI drives the admin API with a client of each transport
// connected: the rooms with their subscribers and retention, the
// connections with who and where they are, disconnecting each (the
// client comes back and resumes where it was), trimming a room (a client
// that asks for a removed position is told with a reset), and paging.
func TestAdminAPI(t *testing.T) {
	srv := startServer(t, "", "--jwt-secret", testSecret, "--api-key", testAPIKey, "--admin-role", "admin",
		"--retention-max-count", "1000")
	admin := cred{apiKey: testAPIKey}
	boss := cred{bearer: mint(t, "boss", func(c jwt.MapClaims) { c["role"] = "admin" })}
	ada := mint(t, "ada", nil)                                                 // may subscribe to general
	c := &http.Client{Transport: apiKeyTransport{}, Timeout: 10 * time.Second} // publishes with the API key
	for i := range 5 {
		mustPublish(t, c, srv.URL, "general", "msg", fmt.Appendf(nil, `{"n":%d}`, i))
	}

	// One client of each transport, all caught up at 5.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sse, err := openSSE(ctx, newStreamClient(), srv.URL+"/sse?room=general&after=5&token="+ada, "")
	if err != nil {
		t.Fatal(err)
	}
	defer sse.close()
	type pollResult struct {
		p   page
		err error
	}
	polled := make(chan pollResult, 1)
	go func() {
		p, err := poll(newStreamClient(), srv.URL, []string{"general"}, 5, "&timeout=50s&token="+ada)
		polled <- pollResult{p, err}
	}()
	d := startSIODriver(t)
	if m := d.connect("s", srv.URL+"/", ada, false); m["ok"] != true {
		t.Fatalf("connect: %v", m)
	}
	if ack := d.emit("s", "room:join", map[string]any{"room": "general", "after": 5}); ack["ok"] != true {
		t.Fatalf("join: %v", ack)
	}

	byT := waitConns(t, admin, srv.URL, "general", 3)
	for _, tr := range []string{"sse", "longpoll", "socketio"} {
		cn, ok := byT[tr]
		if !ok || cn.User != "ada" || !slices.Equal(cn.Rooms, []string{"general"}) || cn.Lag != 0 ||
			!strings.HasPrefix(cn.Remote, "127.0.0.1:") || !strings.HasPrefix(cn.ID, tr+"-") || cn.Since == "" {
			t.Errorf("%s connection %+v", tr, cn)
		}
	}
	if cn := byT["socketio"]; cn.Namespace != "/" || (cn.Engine != "polling" && cn.Engine != "websocket") {
		t.Errorf("socketio connection %+v: want namespace / and its engine transport", cn)
	}

	var rooms struct {
		Rooms []struct {
			Room        string         `json:"room"`
			Head        uint64         `json:"head"`
			Count       uint64         `json:"count"`
			Subscribers map[string]int `json:"subscribers"`
			Retention   struct {
				Rule     string `json:"rule"`
				MaxCount int    `json:"max_count"`
			} `json:"retention"`
		} `json:"rooms"`
	}
	adminGet(t, boss, srv.URL+"/api/admin/rooms", &rooms) // a token with the admin role
	if len(rooms.Rooms) != 1 || rooms.Rooms[0].Room != "general" || rooms.Rooms[0].Head != 5 || rooms.Rooms[0].Count != 5 ||
		rooms.Rooms[0].Retention.MaxCount != 1000 || !maps3(rooms.Rooms[0].Subscribers) {
		t.Errorf("rooms %+v", rooms)
	}

	t.Run("disconnect", func(t *testing.T) {
		for _, tr := range []string{"sse", "longpoll", "socketio"} {
			if st, body, _ := admin.do(t, "DELETE", srv.URL+"/api/admin/connections/"+byT[tr].ID, ""); st != 200 || !strings.Contains(body, `"disconnected":true`) {
				t.Fatalf("disconnect %s: %d %s", tr, st, body)
			}
		}
		// SSE: a short retry hint and the reason, then the end.
		var comments []string
		for {
			f, err := sse.next()
			if err != nil {
				break
			}
			comments = append(comments, f.comments...)
		}
		if !slices.Contains(comments, "disconnected by the server") {
			t.Errorf("SSE stream ended with comments %q", comments)
		}
		// Long-poll: answered at once, nothing missed.
		select {
		case r := <-polled:
			if r.err != nil || len(r.p.Events) != 0 || r.p.Next != 5 {
				t.Errorf("held poll answered %+v %v, want no events and next 5", r.p, r.err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the held poll was not answered")
		}
		// Socket.IO: a transport close; socket.io-client reconnects by
		// itself and recovers its session.
		if dm := d.do("waitDisconnect", map[string]any{"name": "s"}); dm["reason"] != "transport close" {
			t.Errorf("socket disconnect %v, want transport close", dm)
		}
		if m := d.do("waitConnect", map[string]any{"name": "s"}); m["recovered"] != true {
			t.Errorf("reconnect %v, want recovered", m)
		}
		ev := mustPublish(t, c, srv.URL, "general", "msg", []byte(`{"n":"after"}`))
		if got := d.until("s", ev.Offset); len(got) != 1 || got[0].Meta.Offset != 6 {
			t.Errorf("after the reconnect the socket got %v, want offset 6 only", offsets(got))
		}
		s2, err := openSSE(ctx, newStreamClient(), srv.URL+"/sse?room=general&token="+ada, "5")
		if err != nil {
			t.Fatal(err)
		}
		defer s2.close()
		if e, err := s2.nextEvent(); err != nil || e.Offset != 6 {
			t.Errorf("SSE resumed with %v %v, want offset 6", e, err)
		}
	})

	t.Run("trim", func(t *testing.T) {
		st, body, _ := admin.do(t, "POST", srv.URL+"/api/admin/rooms/general/trim", `{"before":4}`)
		var tr struct {
			Room    string `json:"room"`
			Removed int    `json:"removed"`
			First   uint64 `json:"first"`
			Count   uint64 `json:"count"`
			Trimmed uint64 `json:"trimmed"`
		}
		if json.Unmarshal([]byte(body), &tr); st != 200 || tr.Room != "general" || tr.Removed != 3 || tr.First != 4 || tr.Count != 3 || tr.Trimmed != 3 {
			t.Fatalf("trim before 4: %d %s", st, body)
		}
		s3, err := openSSE(ctx, newStreamClient(), srv.URL+"/sse?room=general&after=1&token="+ada, "")
		if err != nil {
			t.Fatal(err)
		}
		defer s3.close()
		for {
			f, err := s3.next()
			if err != nil {
				t.Fatal(err)
			}
			if f.event == "" {
				continue
			}
			if f.event != "reset" || !strings.Contains(strings.Join(f.data, ""), `"reason":"trimmed"`) {
				t.Errorf("first SSE event after the trim: %+v, want a trimmed reset", f)
			}
			break
		}
		d.connect("late", srv.URL+"/", ada, false) // a socket coming back from before the trim
		ack := d.emit("late", "room:join", map[string]any{"room": "general", "after": 1})
		if rs, _ := ack["reset"].(map[string]any); ack["ok"] != true || ack["recovered"] != false || rs["reason"] != "trimmed" {
			t.Errorf("Socket.IO join from 1 after the trim: %v, want recovered false with a trimmed reset", ack)
		}
		d.do("disconnect", map[string]any{"name": "late"})
		ack = d.emit("s", "room:join", map[string]any{"room": "news:x", "after": 0})
		if ack["ok"] != true {
			t.Fatalf("join news:x: %v", ack)
		}
		st, body, _ = admin.do(t, "POST", srv.URL+"/api/admin/rooms/general/trim", `{"keep":1}`)
		if st != 200 || !strings.Contains(body, `"removed":2`) || !strings.Contains(body, `"count":1`) {
			t.Errorf("trim keeping 1: %d %s", st, body)
		}
	})

	t.Run("paging", func(t *testing.T) {
		for _, room := range []string{"a1", "a2", "a3"} {
			mustPublish(t, c, srv.URL, room, "msg", []byte(`1`))
		}
		var names []string
		after := ""
		for range 10 {
			var page struct {
				Rooms []struct {
					Room string `json:"room"`
				} `json:"rooms"`
				Next string `json:"next"`
			}
			adminGet(t, admin, srv.URL+"/api/admin/rooms?limit=2&after="+after, &page)
			for _, r := range page.Rooms {
				names = append(names, r.Room)
			}
			if page.Next == "" {
				break
			}
			after = page.Next
		}
		if !slices.Equal(names, []string{"a1", "a2", "a3", "general"}) {
			t.Errorf("rooms paged by 2: %v", names)
		}
		s4, err := openSSE(ctx, newStreamClient(), srv.URL+"/sse?room=general&token="+ada, "")
		if err != nil {
			t.Fatal(err)
		}
		defer s4.close()
		waitConns(t, admin, srv.URL, "general", 2)
		var cp struct {
			Connections []adminConn `json:"connections"`
			Total       int         `json:"total"`
			NextOffset  int         `json:"next_offset"`
		}
		adminGet(t, admin, srv.URL+"/api/admin/connections?limit=1", &cp)
		if len(cp.Connections) != 1 || cp.Total < 2 || cp.NextOffset != 1 {
			t.Errorf("connections, limit 1: %+v", cp)
		}
		adminGet(t, admin, srv.URL+"/api/admin/connections?transport=socketio", &cp)
		if len(cp.Connections) != 1 || cp.Connections[0].Transport != "socketio" || !slices.Equal(cp.Connections[0].Rooms, []string{"general", "news:x"}) {
			t.Errorf("socketio connections: %+v", cp)
		}
	})
}

// maps3 reports whether subs counts one subscriber on each transport.
func maps3(subs map[string]int) bool {
	return subs["sse"] == 1 && subs["longpoll"] == 1 && subs["socketio"] == 1
}

// apiKeyTransport sends every request with the test API key.
type apiKeyTransport struct{}

func (apiKeyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-API-Key", testAPIKey)
	return http.DefaultTransport.RoundTrip(r)
}
