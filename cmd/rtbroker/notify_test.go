package main

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestNotificationWhileOffline: a backend notification published over
// HTTP (API key) to user:bob while bob has no connection anywhere reaches
// him when he comes back, on every transport: a fresh Socket.IO socket
// (the real socket.io-client; auto-joined to user:bob at the head) sees
// it unread in me:rooms and gets it by joining from his read position; an
// SSE stream resumes with Last-Event-ID; a long-poll with after.
func TestNotificationWhileOffline(t *testing.T) {
	const key = "notify-api-key"
	s := startServer(t, "", "--jwt-secret", testSecret, "--api-key", key, "--auto-join", "user:{sub}")
	bob := mint(t, "bob", func(c jwt.MapClaims) { c["rooms"] = map[string]any{"subscribe": []string{"general", "user:{sub}"}} })
	notify := func(text string) uint64 {
		t.Helper()
		st, body, _ := cred{apiKey: key}.do(t, "POST", s.URL+"/api/rooms/user:bob/events", `{"type":"notify","data":{"text":"`+text+`"}}`)
		return publishedOffset(t, st, body)
	}
	d := startSIODriver(t)

	// bob online: the first notification arrives live and he reads it.
	if m := d.connect("bob1", s.URL, bob, false); m["ok"] != true {
		t.Fatalf("connect: %v", m)
	}
	first := notify("first")
	if evs := d.until("bob1", first); len(evs) != 1 || evs[0].Event != "notify" || evs[0].Meta.From != "api" {
		t.Fatalf("bob online received %+v", evs)
	}
	if ack := d.emit("bob1", "room:read", map[string]any{"room": "user:bob", "offset": first}); ack["ok"] != true {
		t.Fatalf("room:read: %v", ack)
	}
	d.do("disconnect", map[string]any{"name": "bob1"})

	// bob offline: the backend notifies him.
	missed := notify("while you were away")

	t.Run("socket.io", func(t *testing.T) {
		if m := d.connect("bob2", s.URL, bob, false); m["ok"] != true || m["recovered"] == true {
			t.Fatalf("connect: %v", m)
		}
		rooms := sioRooms(t, d, "bob2")
		i := slices.IndexFunc(rooms, func(r unreadRoom) bool { return r.Room == "user:bob" })
		if i < 0 || rooms[i].Read != first || rooms[i].Unread != 1 || rooms[i].Head != missed {
			t.Fatalf("me:rooms: %+v, want user:bob read %d, 1 unread", rooms, first)
		}
		ack := d.emit("bob2", "room:join", map[string]any{"room": "user:bob", "after": rooms[i].Read})
		if ack["ok"] != true || ack["recovered"] != true {
			t.Fatalf("join from the read position: %v", ack)
		}
		evs := d.until("bob2", missed)
		if len(evs) != 1 || evs[0].Data["text"] != "while you were away" || evs[0].Meta.Room != "user:bob" {
			t.Fatalf("bob back received %+v, want the notification once", evs)
		}
		d.do("disconnect", map[string]any{"name": "bob2"})
	})
	t.Run("sse", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		st, err := openSSE(ctx, newStreamClient(), s.URL+"/sse?room=user:bob&token="+bob, strconv.FormatUint(first, 10))
		if err != nil {
			t.Fatal(err)
		}
		defer st.close()
		ev, err := st.nextEvent()
		if err != nil || ev.Offset != missed || ev.Type != "notify" || ev.From != "api" {
			t.Fatalf("SSE with Last-Event-ID %d: %s %v", first, ev, err)
		}
	})
	t.Run("long-poll", func(t *testing.T) {
		c := newClient()
		p, err := poll(c, s.URL, []string{"user:bob"}, first, "&timeout=0s&token="+bob)
		if err != nil || len(p.Events) != 1 || p.Events[0].Offset != missed || p.Next != missed {
			t.Fatalf("poll after %d: %+v %v", first, p, err)
		}
	})
}
