package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// presenceSeen collects what one subscriber received: the presence
// events (as "presence:join ada") and whether the marker arrived.
type presenceSeen struct {
	mu     sync.Mutex
	events []string
	marker bool
	err    error
}

func (s *presenceSeen) add(typ string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch typ {
	case "presence:join", "presence:leave":
		var d struct {
			User string
			Data struct{ User string } // an SSE frame carries the whole event
		}
		json.Unmarshal(data, &d)
		s.events = append(s.events, typ+" "+d.User+d.Data.User)
	case "marker":
		s.marker = true
	}
}

func (s *presenceSeen) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *presenceSeen) snapshot() ([]string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.events...), s.marker, s.err
}

// has reports whether the subscriber saw ada's join and leave.
func (s *presenceSeen) has(evs ...string) bool {
	got, _, _ := s.snapshot()
	for _, want := range evs {
		found := false
		for _, g := range got {
			found = found || g == want
		}
		if !found {
			return false
		}
	}
	return true
}

// rawPoll GETs /poll (ephemeral events included) with token.
func rawPoll(ctx context.Context, base, token, query string) (int, page, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/poll?"+query, nil)
	if err != nil {
		return 0, page{}, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, page{}, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var p page
	if resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(b, &p)
	}
	return resp.StatusCode, p, string(b), err
}

// TestPresenceOptIn: without --presence-events, presence:join and
// presence:leave go only to the subscriptions that asked for them
// (room:join {presence: true}, presence=1 on /sse and /poll); the others,
// on every transport, receive none; asking without the presence
// permission is refused.
func TestPresenceOptIn(t *testing.T) {
	srv := startServer(t, "", "--jwt-secret", testSecret, "--presence-poll-grace", "200ms")
	base := srv.URL
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := startSIODriver(t)

	// Socket.IO: bob asks, carl does not.
	for _, u := range []struct {
		name string
		ask  bool
	}{{"bob", true}, {"carl", false}} {
		d.connect(u.name, base, presenceToken(t, u.name, true), false)
		join := map[string]any{"room": "general"}
		if u.ask {
			join["presence"] = true
		}
		ack := d.emit(u.name, "room:join", join)
		if ack["ok"] != true || (ack["presence"] == true) != u.ask {
			t.Fatalf("%s's join: %v", u.name, ack)
		}
	}

	// SSE: sara asks, sam does not. Long-poll: lena asks, leo does not.
	seen := map[string]*presenceSeen{}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, u := range []struct {
		name, query string
	}{{"sara", "&presence=1"}, {"sam", ""}} {
		s, err := openSSE(ctx, newStreamClient(), base+"/sse?room=general&token="+presenceToken(t, u.name, true)+u.query, "")
		if err != nil {
			t.Fatal(err)
		}
		ps := &presenceSeen{}
		seen[u.name] = ps
		wg.Go(func() {
			defer s.close()
			for {
				f, err := s.next()
				if err != nil {
					if ctx.Err() == nil {
						ps.fail(err)
					}
					return
				}
				ps.add(f.event, []byte(strings.Join(f.data, "\n")))
			}
		})
	}
	for _, u := range []struct {
		name, query string
	}{{"lena", "&presence=1"}, {"leo", ""}} {
		ps := &presenceSeen{}
		seen[u.name] = ps
		token := presenceToken(t, u.name, true)
		wg.Go(func() {
			var after uint64
			for ctx.Err() == nil {
				q := "room=general&timeout=5s&after=" + fmt.Sprint(after) + u.query
				code, p, body, err := rawPoll(ctx, base, token, q)
				if err != nil || code != http.StatusOK {
					if ctx.Err() == nil {
						ps.fail(fmt.Errorf("poll: %d %s %v", code, body, err))
					}
					return
				}
				for _, ev := range p.Events {
					ps.add(ev.Type, ev.Data)
				}
				after = p.Next
			}
		})
	}
	// Everyone is present before ada comes.
	for deadline := time.Now().Add(20 * time.Second); ; {
		if p := getPresence(t, base, "general", presenceToken(t, "bob", true), http.StatusOK); p.Count == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the six subscribers are not all present")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Ada comes and goes until every subscriber that asked saw both
	// (a long-poll client sees what happens while one of its polls is
	// held: ephemeral events are not kept between polls).
	ada := presenceToken(t, "ada", true)
	want := []string{"presence:join ada", "presence:leave ada"}
	for i := 0; ; i++ {
		d.connect("ada", base, ada, false)
		d.emit("ada", "room:join", map[string]any{"room": "general"})
		d.do("disconnect", map[string]any{"name": "ada"})
		if seen["sara"].has(want...) && seen["lena"].has(want...) {
			break
		}
		if i == 50 {
			t.Fatalf("after %d visits: sara saw %v, lena saw %v", i, seen["sara"].events, seen["lena"].events)
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, body, _ := cred{bearer: presenceToken(t, "bob", true)}.do(t, http.MethodPost, base+"/api/rooms/general/events", `{"type":"marker","data":{}}`)
	if code != http.StatusCreated {
		t.Fatalf("marker: %d %s", code, body)
	}
	for _, name := range []string{"sara", "sam", "lena", "leo"} {
		for deadline := time.Now().Add(20 * time.Second); ; {
			_, marker, err := seen[name].snapshot()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if marker {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never received the marker", name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Socket.IO: up to the marker.
	sio := map[string][]string{}
	for _, name := range []string{"bob", "carl"} {
		for done := false; !done; {
			for _, ev := range d.WaitEvents(name, 1) {
				switch ev.Event {
				case "presence:join", "presence:leave":
					var u struct{ User string }
					json.Unmarshal(ev.Args[0], &u)
					sio[name] = append(sio[name], ev.Event+" "+u.User)
				case "marker":
					done = true
				}
			}
		}
	}
	if !containsAll(sio["bob"], want) || !containsAll(sio["bob"], []string{"presence:join bob"}) {
		t.Errorf("bob asked and received %v", sio["bob"])
	}
	if !seen["sara"].has(want...) || !seen["lena"].has(want...) {
		t.Errorf("sara received %v, lena %v", seen["sara"].events, seen["lena"].events)
	}
	for name, got := range map[string][]string{"carl": sio["carl"], "sam": seen["sam"].events, "leo": seen["leo"].events} {
		if len(got) != 0 {
			t.Errorf("%s did not ask and received %v", name, got)
		}
	}

	t.Run("refused without the permission", func(t *testing.T) {
		eve := presenceToken(t, "eve", false)
		d.connect("eve", base, eve, false)
		ack := d.emit("eve", "room:join", map[string]any{"room": "general", "presence": true})
		if e, _ := ack["error"].(map[string]any); ack["ok"] != false || e["code"] != "forbidden" || !strings.Contains(fmt.Sprint(e["message"]), "presence") {
			t.Fatalf("room:join {presence: true} without the permission: %v", ack)
		}
		if ack := d.emit("eve", "room:join", map[string]any{"room": "general"}); ack["ok"] != true {
			t.Fatalf("the same join without presence: %v", ack)
		}
		if ack := d.emit("eve", "room:join", map[string]any{"room": "general", "presence": "yes"}); ack["ok"] != false {
			t.Fatalf("presence: \"yes\": %v", ack)
		}
		for _, path := range []string{"/sse", "/poll"} {
			code, body, _ := cred{bearer: eve}.do(t, http.MethodGet, base+path+"?room=general&timeout=0&presence=1", "")
			if code != http.StatusForbidden || errCode(body) != "forbidden" || !strings.Contains(body, "presence") {
				t.Errorf("%s presence=1 without the permission: %d %s", path, code, body)
			}
			code, body, _ = cred{bearer: eve}.do(t, http.MethodGet, base+path+"?room=general&timeout=0&presence="+url.QueryEscape("maybe"), "")
			if code != http.StatusBadRequest || errCode(body) != "invalid_argument" {
				t.Errorf("%s presence=maybe: %d %s", path, code, body)
			}
		}
	})
}

func containsAll(got, want []string) bool {
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			return false
		}
	}
	return true
}
