package socketio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
	"github.com/rtbroker/rtbroker/gateways/socketio"
)

// gwServer is the broker gateway on a real HTTP server over an in-memory
// log that survives a restart (the store is reopened).
type gwServer struct {
	t     testing.TB
	store *brokertest.MemStore
	log   broker.Log
	b     *broker.Broker
	g     *socketio.Gateway
	srv   *http.Server
	done  chan struct{}
	addr  string
	URL   string
}

func startGateway(t testing.TB, store *brokertest.MemStore, addr string) *gwServer {
	t.Helper()
	if store == nil {
		store = brokertest.NewMemStore()
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for range 50 { // the port of a stopped server may take a moment to free
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	l := store.Open()
	b := broker.New(l, broker.Config{})
	g := socketio.New(b, socketio.GatewayConfig{
		Namespaces: []socketio.NamespaceConfig{{Name: "/"}, {Name: "/admin"}},
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", g)
	s := &gwServer{t: t, store: store, log: l, b: b, g: g, srv: &http.Server{Handler: mux}, done: make(chan struct{}), addr: ln.Addr().String()}
	s.URL = "http://" + s.addr
	go func() { s.srv.Serve(ln); close(s.done) }()
	t.Cleanup(s.stop)
	return s
}

// stop shuts the server down like a restart would; stopping twice is fine.
func (s *gwServer) stop() {
	if s.srv == nil {
		return
	}
	s.srv.Close()
	<-s.done
	s.g.Close()
	s.b.Close()
	s.log.Close()
	s.srv = nil
}

// restart stops the server and starts it again on the same address and log.
func (s *gwServer) restart() *gwServer {
	s.stop()
	return startGateway(s.t, s.store, s.addr)
}

func (s *gwServer) publish(room, typ string, data any) *broker.Event {
	s.t.Helper()
	raw, _ := json.Marshal(data)
	ev, err := s.b.Publish(context.Background(), broker.Message{Room: room, Type: typ, Data: raw, From: "test"})
	if err != nil {
		s.t.Fatal(err)
	}
	return ev
}

// ackOf returns the first acknowledgement argument of a driver reply.
func ackOf(t testing.TB, m map[string]any) map[string]any {
	t.Helper()
	args, _ := m["ack"].([]any)
	if len(args) == 0 {
		t.Fatalf("no ack in %v", m)
	}
	a, _ := args[0].(map[string]any)
	return a
}

// meta decodes the event's data and meta arguments.
func decodeEvent(t testing.TB, e receivedEvent) (data map[string]any, meta map[string]any, token string) {
	t.Helper()
	if len(e.Args) < 2 {
		t.Fatalf("event %s has %d args, want data and meta", e, len(e.Args))
	}
	json.Unmarshal(e.Args[0], &data)
	json.Unmarshal(e.Args[1], &meta)
	if len(e.Args) > 2 {
		json.Unmarshal(e.Args[2], &token)
	}
	return data, meta, token
}

func offsetsOf(t testing.TB, evs []receivedEvent) []uint64 {
	t.Helper()
	var out []uint64
	for _, e := range evs {
		_, meta, _ := decodeEvent(t, e)
		off, _ := meta["offset"].(float64)
		out = append(out, uint64(off))
	}
	return out
}

func join(t testing.TB, d *driver, name, room string, after any) map[string]any {
	t.Helper()
	arg := map[string]any{"room": room}
	if after != nil {
		arg["after"] = after
	}
	ack := ackOf(t, d.do("emit", map[string]any{"name": name, "event": "room:join", "args": []any{arg}, "ack": true}))
	if ack["ok"] != true {
		t.Fatalf("join %s: %v", room, ack)
	}
	return ack
}

func TestGatewayTransports(t *testing.T) {
	srv := startGateway(t, nil, "")
	d := startDriver(t)
	tests := []struct {
		name       string
		transports []string
		want       string
	}{
		{name: "polling then websocket", want: "websocket"},
		{name: "websocket only", transports: []string{"websocket"}, want: "websocket"},
		{name: "polling only", transports: []string{"polling"}, want: "polling"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := map[string]any{}
			if tc.transports != nil {
				opts["transports"] = tc.transports
			}
			d.do("connect", map[string]any{"name": tc.name, "url": srv.URL, "opts": opts})
			if tc.want == "websocket" {
				if got := d.do("waitUpgrade", map[string]any{"name": tc.name}); got["transport"] != "websocket" {
					t.Fatalf("transport = %v", got["transport"])
				}
			}
			room := fmt.Sprintf("t%d", i)
			join(t, d, tc.name, room, nil)
			ack := ackOf(t, d.do("emit", map[string]any{"name": tc.name, "event": "chat:message", "args": []any{map[string]any{"room": room, "text": "hi"}}, "ack": true}))
			if ack["ok"] != true || ack["offset"] == nil || ack["id"] == nil {
				t.Fatalf("publish ack = %v", ack)
			}
			evs := d.waitEvents(tc.name, 1)
			data, meta, token := decodeEvent(t, evs[0])
			if evs[0].Event != "chat:message" || data["text"] != "hi" || data["room"] != nil || meta["room"] != room ||
				meta["offset"] != ack["offset"] || meta["id"] != ack["id"] || meta["from"] != "anonymous" || token != fmt.Sprint(ack["offset"]) {
				t.Fatalf("received %s", evs[0])
			}
		})
	}
}
