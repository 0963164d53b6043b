package socketio_test

import (
	"net"
	"net/http"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/limit"
	"github.com/rtbroker/rtbroker/gateways/socketio"
	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
)

// TestPublishRateLimit: real socket.io-client sockets over the limit get
// a rate_limited ack and stay connected; other identities are unaffected.
func TestPublishRateLimit(t *testing.T) {
	a, err := auth.New(auth.Config{Secrets: [][]byte{sioSecret}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := brokertest.NewMemStore().Open()
	b := broker.New(l, broker.Config{})
	conns := limit.NewConns(100)
	g := socketio.New(b, socketio.GatewayConfig{
		Auth:         a,
		PublishLimit: limit.NewBuckets(limit.Rate{PerSecond: 1.0 / 3600, Burst: 2}, 0, nil),
		Server:       socketio.Config{Engine: engineio.Config{Admit: conns.Admit}},
	})
	srv := &http.Server{Handler: g}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done; g.Close(); b.Close(); l.Close() })
	url := "http://" + ln.Addr().String()

	d := startDriver(t)
	d.do("connect", map[string]any{"name": "ada", "url": url, "opts": map[string]any{"auth": map[string]any{"token": sioToken(t, "ada", nil)}}})
	d.do("connect", map[string]any{"name": "ada2", "url": url, "opts": map[string]any{"auth": map[string]any{"token": sioToken(t, "ada", nil)}}})
	d.do("connect", map[string]any{"name": "bob", "url": url, "opts": map[string]any{"auth": map[string]any{"token": sioToken(t, "bob", nil)}}})
	steps := []struct {
		name, socket string
		wantCode     string // "" for ok
	}{
		{name: "ada 1", socket: "ada"},
		{name: "ada 2", socket: "ada"},
		{name: "ada over", socket: "ada", wantCode: "rate_limited"},
		{name: "ada's other socket shares the bucket", socket: "ada2", wantCode: "rate_limited"},
		{name: "bob", socket: "bob"},
		{name: "ada still over, still connected", socket: "ada", wantCode: "rate_limited"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			ack := ackOf(t, d.do("emit", map[string]any{"name": s.socket, "event": "chat:message", "args": []any{map[string]any{"room": "general", "text": "hi"}}, "ack": true}))
			if s.wantCode == "" {
				if ack["ok"] != true {
					t.Fatalf("ack %v", ack)
				}
				return
			}
			e, _ := ack["error"].(map[string]any)
			if ack["ok"] != false || e["code"] != s.wantCode {
				t.Fatalf("ack %v, want code %s", ack, s.wantCode)
			}
		})
	}
	// The refused socket still joins rooms: the connection was kept.
	if ack := ackOf(t, d.do("emit", map[string]any{"name": "ada", "event": "room:join", "args": []any{map[string]any{"room": "general"}}, "ack": true})); ack["ok"] != true {
		t.Fatalf("join after refusals: %v", ack)
	}
	if n := conns.Len(); n != 1 {
		t.Errorf("%d IPs counted, want 1 (127.0.0.1)", n)
	}
}
