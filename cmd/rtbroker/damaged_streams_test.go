package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// TestDamagedLogStreams: an SSE stream and a Socket.IO socket whose
// catch-up read hits a damaged page are told so (SSE `event: error`
// {code: data_corrupted} with a long retry hint, then the end of the
// stream; Socket.IO an `error` event {code: data_corrupted} and a server
// disconnect, which socket.io-client does not retry by itself) instead of
// being cut off and reconnecting into the same damage in a loop.
func TestDamagedLogStreams(t *testing.T) {
	dir := t.TempDir()
	writeDamagedLog(t, dir)
	srv := startServer(t, dir)

	t.Run("sse", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := openSSE(ctx, newStreamClient(), srv.URL+"/sse?room=r1&after=1000", "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.close()
		var last sseFrame
		for {
			f, err := s.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			if f.event != "" || f.retry != "" {
				last = f
			}
			if f.event == "error" {
				var e struct{ Code, Message string }
				if err := json.Unmarshal([]byte(strings.Join(f.data, "\n")), &e); err != nil || e.Code != "data_corrupted" || !strings.Contains(e.Message, "offset") {
					t.Fatalf("error event %q: want {code: data_corrupted, message naming the offsets}", f.data)
				}
			}
		}
		if last.retry != "60000" {
			t.Errorf("last frame %+v, want the error event's retry hint of 60000 ms", last)
		}
	})

	t.Run("socketio", func(t *testing.T) {
		d := startSIODriver(t)
		if m := d.connect("s", srv.URL+"/", "", false); m["ok"] != true {
			t.Fatalf("connect: %v", m)
		}
		ack := d.emit("s", "room:join", map[string]any{"room": "r1", "after": 1000})
		if ack["ok"] != true {
			t.Fatalf("join ack %v", ack)
		}
		m := d.do("wait", map[string]any{"name": "s", "count": 1, "timeout": 20000})
		b, _ := json.Marshal(m["events"])
		var got []struct {
			Event string `json:"event"`
			Args  []struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"args"`
		}
		_ = json.Unmarshal(b, &got)
		found := false
		for _, e := range got {
			if e.Event == "error" && len(e.Args) == 1 && e.Args[0].Code == "data_corrupted" {
				found = true
			}
		}
		if !found {
			t.Fatalf("events %s: want an error event with code data_corrupted", b)
		}
		if dm := d.do("waitDisconnect", map[string]any{"name": "s"}); dm["reason"] != "io server disconnect" {
			t.Fatalf("disconnect %v, want io server disconnect", dm)
		}
	})
}
