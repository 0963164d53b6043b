package main

import (
	"fmt"
	"testing"
)

// TestReadPositionsSurviveKill runs the real binary: read positions
// marked over HTTP and over Socket.IO (the real socket.io-client) are
// durable when acknowledged, so after kill -9 and a restart the unread
// counts are what they were, and a position still only moves forward.
func TestReadPositionsSurviveKill(t *testing.T) {
	dir := t.TempDir()
	proc, base := startProcess(t, dir, "--jwt-secret", testSecret)
	ada := chatToken(t, "ada", "chat:*")
	for _, room := range []string{"chat:a", "chat:a", "chat:a", "chat:b", "chat:b"} { // chat:a 1 2 3, chat:b 4 5
		pubText(t, cred{bearer: ada}, base, room, "hi")
	}
	if status, body, _ := (cred{bearer: ada}).do(t, "POST", base+"/api/rooms/chat:a/read", `{"offset":2}`); status != 200 {
		t.Fatalf("mark over HTTP: %d %s", status, body)
	}
	d := startSIODriver(t)
	if r := d.connect("ada", base, ada, false); r["ok"] != true {
		t.Fatalf("connect: %v", r)
	}
	if ack := d.emit("ada", "room:read", map[string]any{"room": "chat:b", "offset": 4}); ack["ok"] != true || ack["moved"] != true {
		t.Fatalf("mark over Socket.IO: %v", ack)
	}
	want := []unreadRoom{{Room: "chat:a", Head: 3, Read: 2, Unread: 1}, {Room: "chat:b", Head: 5, Read: 4, Unread: 1}}
	sameRooms(t, "before the kill", myRooms(t, base, ada), want)

	proc.Process.Kill() // kill -9: no shutdown
	proc.Wait()
	_, base = startProcess(t, dir, "--jwt-secret", testSecret)
	sameRooms(t, "after kill -9 and a restart", myRooms(t, base, ada), want)
	if r := d.connect("ada2", base, ada, false); r["ok"] != true {
		t.Fatalf("connect after the restart: %v", r)
	}
	sameRooms(t, "me:rooms after kill -9 and a restart", sioRooms(t, d, "ada2"), want)
	if ack := d.emit("ada2", "room:read", map[string]any{"room": "chat:a", "offset": 1}); ack["ok"] != true || fmt.Sprint(ack["offset"]) != "2" || ack["moved"] != false {
		t.Errorf("a lower offset after the restart: %v, want offset 2 moved false", ack)
	}
}
