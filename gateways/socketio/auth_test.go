package socketio_test

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/socketio"
)

var sioSecret = []byte("sio-secret-0123456789abcdef01234")

// startAuthGateway is the gateway with a on a real HTTP server.
func startAuthGateway(t testing.TB, a *auth.Authenticator) string {
	t.Helper()
	url, _ := startGatewayConfig(t, socketio.GatewayConfig{Namespaces: []socketio.NamespaceConfig{{Name: "/"}, {Name: "/admin"}}, Auth: a})
	return url
}

// startGatewayConfig is a gateway configured with cfg on a real HTTP
// server, on a broker (returned) over an in-memory log.
func startGatewayConfig(t testing.TB, cfg socketio.GatewayConfig) (string, *broker.Broker) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := brokertest.NewMemStore().Open()
	b := broker.New(l, broker.Config{})
	g := socketio.New(b, cfg)
	srv := &http.Server{Handler: g}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done; g.Close(); b.Close(); l.Close() })
	return "http://" + ln.Addr().String(), b
}

func sioToken(t testing.TB, sub string, edit func(jwt.MapClaims)) string {
	t.Helper()
	c := jwt.MapClaims{
		"sub": sub, "exp": time.Now().Add(time.Hour).Unix(),
		"rooms": map[string]any{"subscribe": []string{"general", "user:{sub}", "admin:ops"}, "publish": []string{"general"}},
	}
	if edit != nil {
		edit(c)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(sioSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthConnect(t *testing.T) {
	a, err := auth.New(auth.Config{Secrets: [][]byte{sioSecret}})
	if err != nil {
		t.Fatal(err)
	}
	url := startAuthGateway(t, a)
	d := startDriver(t)
	good := sioToken(t, "ada", nil)
	// Refused credentials are in cmd/rtbroker's hostile tables.
	tests := []struct {
		name string
		opts map[string]any
	}{
		{"auth.token", map[string]any{"auth": map[string]any{"token": good}}},
		{"query token", map[string]any{"query": map[string]any{"token": good}}},
		{"Authorization header (polling)", map[string]any{"transports": []string{"polling"}, "extraHeaders": map[string]any{"Authorization": "Bearer " + good}}},
		{"Authorization header (websocket)", map[string]any{"transports": []string{"websocket"}, "extraHeaders": map[string]any{"Authorization": "Bearer " + good}}},
		{"cookie (polling)", map[string]any{"transports": []string{"polling"}, "extraHeaders": map[string]any{"Cookie": "theme=dark; rtbroker_token=" + good}}},
		{"cookie (websocket)", map[string]any{"transports": []string{"websocket"}, "extraHeaders": map[string]any{"Cookie": "theme=dark; rtbroker_token=" + good}}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprint("c", i)
			// d fails the parent test: a refused row must fail itself.
			if m := d.try("connect", map[string]any{"name": name, "url": url, "opts": tc.opts}); m["ok"] != true {
				t.Fatalf("connect: %v", m["error"])
			}
			defer d.do("disconnect", map[string]any{"name": name})
			if ack := ackOf(t, d.do("emit", map[string]any{"name": name, "event": "room:join", "args": []any{map[string]any{"room": "general"}}, "ack": true})); ack["ok"] != true {
				t.Fatalf("join: %v", ack)
			}
		})
	}
}

func TestAuthJoinPublish(t *testing.T) {
	a, err := auth.New(auth.Config{Secrets: [][]byte{sioSecret}, Anonymous: true, AnonymousPermissions: auth.Permissions{Subscribe: []string{"general"}}})
	if err != nil {
		t.Fatal(err)
	}
	url := startAuthGateway(t, a)
	d := startDriver(t)
	d.do("connect", map[string]any{"name": "ada", "url": url, "opts": map[string]any{"auth": map[string]any{"token": sioToken(t, "ada", nil)}}})
	d.do("connect", map[string]any{"name": "adminAda", "url": url + "/admin", "opts": map[string]any{"auth": map[string]any{"token": sioToken(t, "ada", nil)}}})
	d.do("connect", map[string]any{"name": "anon", "url": url, "opts": map[string]any{}})
	emit := func(name, event string, arg map[string]any) map[string]any {
		t.Helper()
		return ackOf(t, d.do("emit", map[string]any{"name": name, "event": event, "args": []any{arg}, "ack": true}))
	}
	tests := []struct {
		name, socket, event string
		arg                 map[string]any
		wantCode            string // "" = ok
	}{
		{"join granted", "ada", "room:join", map[string]any{"room": "general", "after": 0}, ""},
		{"join own user room", "ada", "room:join", map[string]any{"room": "user:ada"}, ""},
		{"join another user's room", "ada", "room:join", map[string]any{"room": "user:bob"}, "forbidden"},
		{"join not granted", "ada", "room:join", map[string]any{"room": "ops"}, "forbidden"},
		{"join in a namespace checks the log room", "adminAda", "room:join", map[string]any{"room": "ops"}, ""},
		{"join in a namespace, not granted", "adminAda", "room:join", map[string]any{"room": "general"}, "forbidden"},
		{"publish not granted", "ada", "chat:message", map[string]any{"room": "user:ada", "text": "x"}, "forbidden"},
		{"ephemeral publish not granted", "ada", "typing", map[string]any{"room": "ops", "ephemeral": true}, "forbidden"},
		{"anonymous join granted", "anon", "room:join", map[string]any{"room": "general", "after": 0}, ""},
		{"anonymous publish not granted", "anon", "chat:message", map[string]any{"room": "general", "text": "x"}, "forbidden"},
		{"anonymous join not granted", "anon", "room:join", map[string]any{"room": "user:ada"}, "forbidden"},
		{"publish granted, from spoofed in data", "ada", "chat:message", map[string]any{"room": "general", "text": "hi", "from": "eve"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ack := emit(tc.socket, tc.event, tc.arg)
			if tc.wantCode == "" {
				if ack["ok"] != true {
					t.Fatalf("ack %v", ack)
				}
				return
			}
			e, _ := ack["error"].(map[string]any)
			if ack["ok"] != false || e["code"] != tc.wantCode {
				t.Fatalf("ack %v, want error %s", ack, tc.wantCode)
			}
		})
	}
	// Both sockets stayed connected and got the one published event,
	// from the authenticated subject whatever the data said.
	for _, name := range []string{"ada", "anon"} {
		evs := d.waitEvents(name, 1)
		_, meta, _ := decodeEvent(t, evs[0])
		if evs[0].Event != "chat:message" || meta["from"] != "ada" {
			t.Fatalf("%s received %v", name, evs)
		}
	}
}

// TestAuthTokenExpiry: a socket whose token expires is sent a DISCONNECT
// (socket.io-client: "io server disconnect"); it reconnects with a fresh
// token and its session recovers what was published meanwhile. Sockets
// with long-lived tokens stay.
func TestAuthTokenExpiry(t *testing.T) {
	a, err := auth.New(auth.Config{Secrets: [][]byte{sioSecret}, Leeway: -1})
	if err != nil {
		t.Fatal(err)
	}
	url := startAuthGateway(t, a)
	d := startDriver(t)
	short := sioToken(t, "ada", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(2 * time.Second).Unix() })
	d.do("connect", map[string]any{"name": "short", "url": url, "opts": map[string]any{"auth": map[string]any{"token": short}}})
	d.do("connect", map[string]any{"name": "long", "url": url, "opts": map[string]any{"auth": map[string]any{"token": sioToken(t, "bob", nil)}}})
	emit := func(name, event string, arg map[string]any) map[string]any {
		t.Helper()
		return ackOf(t, d.do("emit", map[string]any{"name": name, "event": event, "args": []any{arg}, "ack": true}))
	}
	if ack := emit("short", "room:join", map[string]any{"room": "general", "after": 0}); ack["ok"] != true {
		t.Fatalf("join: %v", ack)
	}
	if ack := emit("long", "chat:message", map[string]any{"room": "general", "n": 1}); ack["ok"] != true {
		t.Fatalf("publish: %v", ack)
	}
	d.waitEvents("short", 1)

	start := time.Now()
	m := d.do("waitDisconnect", map[string]any{"name": "short", "timeout": 6000})
	if m["reason"] != "io server disconnect" {
		t.Fatalf("disconnect reason %v", m["reason"])
	}
	if waited := time.Since(start); waited > 4*time.Second {
		t.Fatalf("disconnected %v after the token expired", waited)
	}
	// Published while the expired client is away.
	if ack := emit("long", "chat:message", map[string]any{"room": "general", "n": 2}); ack["ok"] != true {
		t.Fatalf("long-lived socket after the other expired: %v", ack)
	}
	// Reconnecting with the expired token is refused…
	if m := d.try("reconnect", map[string]any{"name": "short", "auth": map[string]any{"token": short}, "timeout": 3000}); m["ok"] == true || !strings.Contains(fmt.Sprint(m["error"]), "expired") {
		t.Fatalf("reconnect with the expired token: %v", m)
	}
	// …with a fresh one, the session recovers the missed event.
	m = d.do("reconnect", map[string]any{"name": "short", "auth": map[string]any{"token": sioToken(t, "ada", nil)}})
	if m["recovered"] != true {
		t.Fatalf("reconnect with a fresh token: %v", m)
	}
	evs := d.waitEvents("short", 1)
	if data, _, _ := decodeEvent(t, evs[0]); evs[0].Event != "chat:message" || data["n"] != float64(2) {
		t.Fatalf("after recovery: %v", evs)
	}
	// The fresh token lasts an hour: the socket stays past the old deadline.
	time.Sleep(1500 * time.Millisecond)
	if m := d.do("events", map[string]any{"name": "short"}); len(m["events"].([]any)) != 0 {
		t.Fatalf("unexpected events %v", m["events"])
	}
	if ack := emit("short", "chat:message", map[string]any{"room": "general", "n": 3}); ack["ok"] != true {
		t.Fatalf("after recovery: %v", ack)
	}
}
