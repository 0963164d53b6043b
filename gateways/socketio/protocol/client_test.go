package protocol_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/gateways/socketio/protocol"
	"github.com/rtbroker/rtbroker/gateways/socketio/socketiotest"
)

// TestProtocolWithSocketIOClient drives the protocol layers (no broker)
// with the real socket.io-client: the auth payload, acks both ways with a
// timeout, and binary payloads both ways.
func TestProtocolWithSocketIOClient(t *testing.T) {
	srv := protocol.NewServer(protocol.Config{})
	acked := make(chan []json.RawMessage, 1)
	srv.Of("/").OnConnect(func(s *protocol.Socket) {
		s.Emit("auth", json.RawMessage(s.Auth()))
		s.OnEvent(func(ev *protocol.Event) {
			switch ev.Name {
			case "echo":
				s.Emit("echo-back", ev.EchoArgs()...)
			case "ask-me":
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					args, err := s.EmitWithAck(ctx, "question", "ping?")
					if err != nil {
						t.Errorf("server ack: %v", err)
					}
					acked <- args
				}()
			}
			if ev.HasAck() {
				ev.Ack(ev.EchoArgs()...)
			}
		})
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	d := socketiotest.Start(t)
	d.Do("connect", map[string]any{"name": "c", "url": hs.URL, "opts": map[string]any{"auth": map[string]any{"token": "abc"}}})
	if evs := d.WaitEvents("c", 1); evs[0].Event != "auth" || string(evs[0].Args[0]) != `{"token":"abc"}` {
		t.Fatalf("auth payload: %v", evs)
	}

	// Client → server ack with a timeout, binary in and out.
	m := d.Do("emit", map[string]any{"name": "c", "event": "echo", "args": []any{"text", map[string]any{"$buffer": "AAEC/w=="}}, "ack": true, "timeout": 2000})
	if b, _ := json.Marshal(m["ack"]); string(b) != `["text"]` {
		t.Fatalf("ack = %s", b)
	}
	evs := d.WaitEvents("c", 1)
	if evs[0].Event != "echo-back" || len(evs[0].Args) != 2 || string(evs[0].Args[1]) != `{"$buffer":"AAEC/w=="}` {
		t.Fatalf("binary echo: %v", evs)
	}

	// Server → client ack.
	d.Do("serverAck", map[string]any{"name": "c", "event": "question", "reply": "pong!"})
	d.Do("emit", map[string]any{"name": "c", "event": "ask-me"})
	select {
	case args := <-acked:
		if len(args) != 1 || string(args[0]) != `"pong!"` {
			t.Fatalf("server got ack %s", args)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no ack from the client")
	}
}
