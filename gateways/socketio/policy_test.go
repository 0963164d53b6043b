package socketio_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/socketio"
)

// TestNamespaceRole: a namespace that requires a role refuses sockets
// without it (forbidden; unauthorized when anonymous) and admits those
// with it and API keys; the refusal leaves the other namespaces on the
// same connection working.
func TestNamespaceRole(t *testing.T) {
	a, err := auth.New(auth.Config{
		Secrets: [][]byte{sioSecret}, APIKeys: []string{"sio-api-key"},
		Anonymous: true, AnonymousPermissions: auth.Permissions{Subscribe: []string{"general"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	url, _ := startGatewayConfig(t, socketio.GatewayConfig{
		Namespaces: []socketio.NamespaceConfig{{Name: "/"}, {Name: "/admin", Role: "admin"}},
		Auth:       a,
	})
	d := startDriver(t)
	admin := sioToken(t, "root", func(c jwt.MapClaims) { c["roles"] = []string{"ops", "admin"} })
	tests := []struct {
		name     string
		token    any    // nil: anonymous
		wantCode string // "" = connected
	}{
		{name: "token without the role", token: sioToken(t, "ada", nil), wantCode: "forbidden"},
		{name: "token with another role", token: sioToken(t, "ada", func(c jwt.MapClaims) { c["role"] = "ops" }), wantCode: "forbidden"},
		{name: "anonymous", wantCode: "unauthorized"},
		{name: "roles claim", token: admin},
		{name: "role claim", token: sioToken(t, "root", func(c jwt.MapClaims) { c["role"] = "admin" })},
		{name: "API key", token: "sio-api-key"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := map[string]any{"forceNew": false}
			if tc.token != nil {
				opts["auth"] = map[string]any{"token": tc.token}
			}
			main, ns := fmt.Sprint("main", i), fmt.Sprint("admin", i)
			d.do("connect", map[string]any{"name": main, "url": url, "opts": opts})
			m := d.try("connect", map[string]any{"name": ns, "url": url + "/admin", "opts": opts})
			if tc.wantCode == "" {
				if m["ok"] != true {
					t.Fatalf("connect to /admin: %v", m)
				}
				join(t, d, ns, "ops", nil)
			} else {
				e := fmt.Sprint(m["error"])
				want := fmt.Sprintf(`{"message":%q,"data":{"code":%q,"message":`, tc.wantCode, tc.wantCode)
				if m["ok"] == true || !strings.HasPrefix(e, want) || !strings.Contains(e, `role \"admin\"`) {
					t.Fatalf("connect to /admin: %v, want connect_error %s…", m, want)
				}
			}
			// The main namespace, on the same connection, still works.
			join(t, d, main, "general", nil)
			d.do("disconnect", map[string]any{"name": main})
			d.do("disconnect", map[string]any{"name": ns})
		})
	}
}

// TestAutoJoin: sockets authenticated by a token are joined to
// user:{sub} at connect, without needing the permission; a recovered
// session keeps the room and is sent what it missed once; a client may
// re-join the room from an earlier offset before any of its events was
// sent, and is told when that can no longer be exact.
func TestAutoJoin(t *testing.T) {
	a, err := auth.New(auth.Config{Secrets: [][]byte{sioSecret}, Anonymous: true, AnonymousPermissions: auth.All()})
	if err != nil {
		t.Fatal(err)
	}
	url, b := startGatewayConfig(t, socketio.GatewayConfig{
		Namespaces: []socketio.NamespaceConfig{{Name: "/", AutoJoin: []string{"user:{sub}", "bad room {sub}"}}, {Name: "/admin"}},
		Auth:       a,
	})
	publish := func(room string, n int) uint64 {
		t.Helper()
		ev, err := b.Publish(context.Background(), broker.Message{Room: room, Type: "notify", Data: []byte(fmt.Sprint(`{"n":`, n, `}`)), From: "test"})
		if err != nil {
			t.Fatal(err)
		}
		return ev.Offset
	}
	// got returns the offsets socket name received up to and including
	// marker (an event published after the ones that matter).
	got := func(d *driver, name string, marker uint64) []uint64 {
		t.Helper()
		var out []uint64
		for !slices.Contains(out, marker) {
			out = append(out, offsetsOf(t, d.waitEvents(name, 1))...)
		}
		return out
	}
	tok := func(sub string) map[string]any {
		// The token does not grant user:{sub}: auto-join needs no permission.
		return map[string]any{"auth": map[string]any{"token": sioToken(t, sub, func(c jwt.MapClaims) {
			c["rooms"] = map[string]any{"subscribe": []string{"general", "admin:x"}}
		})}}
	}
	before := publish("user:ada", 0) // before anyone connects: not sent
	d := startDriver(t)
	d.do("connect", map[string]any{"name": "ada1", "url": url, "opts": tok("ada")})
	d.do("connect", map[string]any{"name": "ada2", "url": url, "opts": tok("ada")})
	d.do("connect", map[string]any{"name": "adaAdmin", "url": url + "/admin", "opts": tok("ada")})
	d.do("connect", map[string]any{"name": "bob", "url": url, "opts": tok("bob")})
	d.do("connect", map[string]any{"name": "anon", "url": url, "opts": map[string]any{}})
	join(t, d, "anon", "general", nil)

	dm := publish("user:ada", 1)
	for _, name := range []string{"ada1", "ada2"} {
		if o := got(d, name, dm); !slices.Equal(o, []uint64{dm}) {
			t.Fatalf("%s received %v, want [%d]", name, o, dm)
		}
	}
	// Neither bob, nor ada's /admin socket (a namespace without
	// auto-join), nor the anonymous socket got it.
	marker := publish("user:bob", 2)
	if o := got(d, "bob", marker); !slices.Equal(o, []uint64{marker}) {
		t.Fatalf("bob received %v, want only his own %d", o, marker)
	}
	join(t, d, "adaAdmin", "x", nil)
	join(t, d, "anon", "user:ada", nil)
	m1, m2 := publish("admin:x", 3), publish("user:ada", 4)
	if o := got(d, "adaAdmin", m1); !slices.Equal(o, []uint64{m1}) {
		t.Fatalf("ada's /admin socket received %v, want only %d", o, m1)
	}
	if o := got(d, "anon", m2); !slices.Equal(o, []uint64{m2}) {
		t.Fatalf("anonymous socket received %v, want only %d (joined by itself)", o, m2)
	}
	got(d, "ada1", m2)
	got(d, "ada2", m2)

	// Recovery keeps the room; the missed event comes once.
	d.do("engineClose", map[string]any{"name": "ada1"})
	missed := publish("user:ada", 5)
	if m := d.do("waitConnect", map[string]any{"name": "ada1"}); m["recovered"] != true {
		t.Fatalf("reconnect: %v", m)
	}
	after := publish("user:ada", 6)
	if o := got(d, "ada1", after); !slices.Equal(o, []uint64{missed, after}) {
		t.Fatalf("ada1 after recovery received %v, want [%d %d]", o, missed, after)
	}
	// Re-joining from earlier once events were sent cannot be exact: a
	// reset says what was not sent on this socket.
	ack := join(t, d, "ada1", "user:ada", 0)
	reset, _ := ack["reset"].(map[string]any)
	if ack["recovered"] != false || reset["reason"] != "already_joined" || reset["requested"] != float64(0) {
		t.Fatalf("re-join from 0 after events were sent: %v", ack)
	}
	// A new session re-joining from an earlier offset before any event
	// of the room was sent starts over from there, once.
	d.do("connect", map[string]any{"name": "ada3", "url": url, "opts": tok("ada")})
	if ack := join(t, d, "ada3", "user:ada", before); ack["recovered"] != true || ack["reset"] != nil {
		t.Fatalf("re-join of the auto-joined room: %v", ack)
	}
	last := publish("user:ada", 7)
	if o := got(d, "ada3", last); !slices.Equal(o, []uint64{dm, m2, missed, after, last}) {
		t.Fatalf("ada3 received %v, want [%d %d %d %d %d]", o, dm, m2, missed, after, last)
	}
	if o := got(d, "ada1", last); !slices.Equal(o, []uint64{last}) {
		t.Fatalf("ada1 received %v after the reset ack, want [%d]", o, last)
	}
}
