package socketio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
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
	return startGatewayWith(t, store, addr, nil)
}

// startGatewayWith is startGateway with configure applied to the gateway's
// configuration (nil: none).
func startGatewayWith(t testing.TB, store *brokertest.MemStore, addr string, configure func(*socketio.GatewayConfig)) *gwServer {
	t.Helper()
	return startGatewayOn(t, store, addr, nil, configure)
}

// startGatewayOn is startGatewayWith with the broker's state store
// wrapped by wrapState (nil: the log's own), to inject its faults.
func startGatewayOn(t testing.TB, store *brokertest.MemStore, addr string, wrapState func(broker.State) broker.State, configure func(*socketio.GatewayConfig)) *gwServer {
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
	var bcfg broker.Config
	if wrapState != nil {
		bcfg.State = wrapState(l)
	}
	b := broker.New(l, bcfg)
	cfg := socketio.GatewayConfig{
		Namespaces: []socketio.NamespaceConfig{{Name: "/"}, {Name: "/admin"}},
	}
	if configure != nil {
		configure(&cfg)
	}
	g := socketio.New(b, cfg)
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
				meta["offset"] != ack["offset"] || meta["id"] != ack["id"] || !strings.HasPrefix(fmt.Sprint(meta["from"]), "anonymous:") || token != fmt.Sprint(ack["offset"]) {
				t.Fatalf("received %s", evs[0])
			}
		})
	}
}

func TestGatewayRoomIncludesSender(t *testing.T) {
	srv := startGateway(t, nil, "")
	d := startDriver(t)
	for _, name := range []string{"alice", "bob", "carol"} {
		d.do("connect", map[string]any{"name": name, "url": srv.URL})
	}
	join(t, d, "alice", "lobby", nil)
	join(t, d, "bob", "lobby", nil)
	join(t, d, "carol", "elsewhere", nil)
	ack := ackOf(t, d.do("emit", map[string]any{"name": "alice", "event": "chat:message", "args": []any{map[string]any{"room": "lobby", "text": "hello"}}, "ack": true}))
	for _, name := range []string{"alice", "bob"} {
		evs := d.waitEvents(name, 1)
		if got := offsetsOf(t, evs); len(got) != 1 || float64(got[0]) != ack["offset"] {
			t.Fatalf("%s received %v, want offset %v", name, evs, ack["offset"])
		}
	}
	srv.publish("elsewhere", "marker", 1)
	if evs := d.waitEvents("carol", 1); evs[0].Event != "marker" {
		t.Fatalf("carol received %v before the marker: the lobby message leaked", evs)
	}
}

func TestGatewayJoinAfterReplays(t *testing.T) {
	srv := startGateway(t, nil, "")
	var history []uint64
	for i := range 5 {
		history = append(history, srv.publish("history", "chat:message", map[string]int{"n": i}).Offset)
		srv.publish("noise", "chat:message", i)
	}
	d := startDriver(t)
	d.do("connect", map[string]any{"name": "c", "url": srv.URL})
	head := srv.b.Head().Offset
	ack := join(t, d, "c", "history", history[1])
	if ack["recovered"] != true || ack["head"] != float64(head) {
		t.Fatalf("join ack = %v, want recovered at head %d", ack, head)
	}
	evs := d.waitEvents("c", 3)
	if got, want := fmt.Sprint(offsetsOf(t, evs)), fmt.Sprint(history[2:]); got != want {
		t.Fatalf("replayed %s, want %s", got, want)
	}
	live := srv.publish("history", "chat:message", "live").Offset
	if got := offsetsOf(t, d.waitEvents("c", 1)); len(got) != 1 || got[0] != live {
		t.Fatalf("live event %v, want [%d]", got, live)
	}
}

// recoverAfter joins a room, receives an event, loses the connection by
// drop (engine close or restart), misses three events, and must come back
// recovered with the same id and exactly the three missed events.
func recoverAfter(t *testing.T, drop func(srv *gwServer, d *driver) *gwServer) {
	srv := startGateway(t, nil, "")
	d := startDriver(t)
	first := d.do("connect", map[string]any{"name": "c", "url": srv.URL, "opts": map[string]any{"transports": []string{"websocket"}}})
	join(t, d, "c", "r", nil)
	srv.publish("r", "chat:message", "before")
	d.waitEvents("c", 1)

	srv = drop(srv, d)
	var missed []uint64
	for i := range 3 {
		missed = append(missed, srv.publish("r", "chat:message", i).Offset)
	}
	again := d.do("waitConnect", map[string]any{"name": "c", "timeout": 20000})
	if again["recovered"] != true || again["sid"] != first["sid"] {
		t.Fatalf("reconnect: %v, want recovered with sid %v", again, first["sid"])
	}
	end := srv.publish("r", "chat:message", "end").Offset
	got := offsetsOf(t, d.waitEvents("c", 4))
	if fmt.Sprint(got) != fmt.Sprint(append(missed, end)) {
		t.Fatalf("after recovery received %v, want %v then %d", got, missed, end)
	}
}

func TestGatewayRecoveryAfterEngineClose(t *testing.T) {
	recoverAfter(t, func(srv *gwServer, d *driver) *gwServer {
		d.do("engineClose", map[string]any{"name": "c"})
		return srv
	})
}

func TestGatewayRecoveryAfterRestart(t *testing.T) {
	recoverAfter(t, func(srv *gwServer, d *driver) *gwServer {
		return srv.restart()
	})
}

// outage is a state store whose reads fail with ErrUnavailable while down
// is set, as a replicated store's do between two leaders.
type outage struct {
	broker.State
	down atomic.Bool
}

func (o *outage) Get(ctx context.Context, key string) (broker.Record, error) {
	if o.down.Load() {
		return broker.Record{}, fmt.Errorf("state: no leader: %w", broker.ErrUnavailable)
	}
	return o.State.Get(ctx, key)
}

// A client that reconnects while the session store cannot be read for
// longer than a CONNECT may wait has its connection closed instead of
// getting a fresh session; socket.io-client reconnects by itself and,
// once the store answers, recovers with exactly what it missed.
func TestGatewayRecoveryWhileStateUnavailable(t *testing.T) {
	for _, transport := range []string{"websocket", "polling"} {
		t.Run(transport, func(t *testing.T) {
			var st *outage
			srv := startGatewayOn(t, nil, "", func(s broker.State) broker.State { st = &outage{State: s}; return st },
				func(c *socketio.GatewayConfig) { c.PublishTimeout = 300 * time.Millisecond })
			d := startDriver(t)
			first := d.do("connect", map[string]any{"name": "c", "url": srv.URL, "opts": map[string]any{"transports": []string{transport}}})
			join(t, d, "c", "r", nil)
			srv.publish("r", "chat:message", "before")
			d.waitEvents("c", 1)

			st.down.Store(true)
			d.do("engineClose", map[string]any{"name": "c"})
			var missed []uint64
			for i := range 3 {
				missed = append(missed, srv.publish("r", "chat:message", i).Offset)
			}
			// Two CONNECTs in the outage, each closed after its wait.
			for deadline := time.Now().Add(20 * time.Second); srv.g.Recoveries()["unavailable"] < 2; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("recoveries %v: the client did not come back during the outage", srv.g.Recoveries())
				}
			}
			st.down.Store(false)
			// The client saw its drop, then each closed attempt, as a
			// disconnect; no connect_error stopped it.
			for i, want := range []string{"forced close", "transport close"} {
				if m := d.do("waitDisconnect", map[string]any{"name": "c"}); m["reason"] != want {
					t.Fatalf("disconnect %d: %v, want %s", i, m, want)
				}
			}
			again := d.do("waitConnect", map[string]any{"name": "c", "timeout": 20000})
			if again["recovered"] != true || again["sid"] != first["sid"] {
				t.Fatalf("reconnect after the outage: %v (recoveries %v), want recovered with sid %v", again, srv.g.Recoveries(), first["sid"])
			}
			end := srv.publish("r", "chat:message", "end").Offset
			if got := offsetsOf(t, d.waitEvents("c", 4)); fmt.Sprint(got) != fmt.Sprint(append(missed, end)) {
				t.Fatalf("after recovery received %v, want %v then %d", got, missed, end)
			}
			if r := srv.g.Recoveries(); r["recovered"] != 1 || r["error"] != 0 {
				t.Fatalf("recoveries %v, want 1 recovered and no error", r)
			}
		})
	}
}

// A client whose session cannot be recovered (here: the log was replaced)
// gets a fresh session and re-joins from its own last offset.
func TestGatewayNoRecoveryOnNewLog(t *testing.T) {
	srv := startGateway(t, nil, "")
	d := startDriver(t)
	first := d.do("connect", map[string]any{"name": "c", "url": srv.URL, "opts": map[string]any{"transports": []string{"websocket"}}})
	join(t, d, "c", "r", nil)
	srv.publish("r", "chat:message", 1)
	d.waitEvents("c", 1)
	addr := srv.addr
	srv.stop()
	srv = startGateway(t, brokertest.NewMemStore(), addr)
	again := d.do("waitConnect", map[string]any{"name": "c", "timeout": 20000})
	if again["recovered"] != false || again["sid"] == first["sid"] {
		t.Fatalf("reconnect to a new log: %v, want a fresh session", again)
	}
	want := srv.publish("r", "chat:message", "new log").Offset
	ack := join(t, d, "c", "r", 0)
	if got := offsetsOf(t, d.waitEvents("c", 1)); len(got) != 1 || got[0] != want || ack["recovered"] != true {
		t.Fatalf("re-join: %v, ack %v", got, ack)
	}
}

func TestGatewayNamespacesShareOneConnection(t *testing.T) {
	srv := startGateway(t, nil, "")
	d := startDriver(t)
	d.do("connect", map[string]any{"name": "main", "url": srv.URL, "opts": map[string]any{"forceNew": false}})
	d.do("connect", map[string]any{"name": "admin", "url": srv.URL + "/admin", "opts": map[string]any{"forceNew": false}})
	join(t, d, "main", "lobby", nil)
	join(t, d, "admin", "lobby", nil)
	ackOf(t, d.do("emit", map[string]any{"name": "admin", "event": "alert", "args": []any{map[string]any{"room": "lobby", "level": 1}}, "ack": true}))
	evs := d.waitEvents("admin", 1)
	_, meta, _ := decodeEvent(t, evs[0])
	if evs[0].Event != "alert" || meta["room"] != "lobby" {
		t.Fatalf("admin received %v", evs)
	}
	res, err := srv.b.History(context.Background(), "admin:lobby", 0, 10)
	if err != nil || len(res.Events) != 1 {
		t.Fatalf("log room admin:lobby holds %d events, %v", len(res.Events), err)
	}
	ackOf(t, d.do("emit", map[string]any{"name": "main", "event": "chat:message", "args": []any{map[string]any{"room": "lobby"}}, "ack": true}))
	if evs := d.waitEvents("main", 1); evs[0].Event != "chat:message" {
		t.Fatalf("main received %v: the /admin event leaked", evs)
	}
}

func TestGatewayErrorsKeepTheConnection(t *testing.T) {
	srv := startGateway(t, nil, "")
	d := startDriver(t)
	d.do("connect", map[string]any{"name": "c", "url": srv.URL})
	tests := []struct {
		name  string
		event string
		args  []any
		code  string
	}{
		{name: "no room", event: "chat:message", args: []any{map[string]any{"text": "x"}}, code: "invalid_argument"},
		{name: "not an object", event: "chat:message", args: []any{"text"}, code: "invalid_argument"},
		{name: "bad room", event: "chat:message", args: []any{map[string]any{"room": "a b"}}, code: "invalid_argument"},
		{name: "internal room", event: "room:join", args: []any{map[string]any{"room": "_sio.sessions"}}, code: "invalid_argument"},
		{name: "reserved type", event: "reset", args: []any{map[string]any{"room": "r"}}, code: "invalid_argument"},
		{name: "bad after", event: "room:join", args: []any{map[string]any{"room": "r", "after": -1}}, code: "invalid_argument"},
		{name: "binary", event: "file", args: []any{map[string]any{"room": "r"}, map[string]any{"$buffer": "AAEC"}}, code: "invalid_argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ack := ackOf(t, d.do("emit", map[string]any{"name": "c", "event": tc.event, "args": tc.args, "ack": true}))
			e, _ := ack["error"].(map[string]any)
			if ack["ok"] != false || e == nil || e["code"] != tc.code || e["message"] == "" {
				t.Fatalf("ack = %v, want code %s", ack, tc.code)
			}
		})
	}
	join(t, d, "c", "r", nil)
	if srv.b.Head().Offset != 0 {
		// only the session records are logged, in the internal room
		res, _ := srv.b.History(context.Background(), "r", 0, 10)
		if len(res.Events) != 0 {
			t.Fatalf("bad events were logged: %v", res.Events)
		}
	}
}

func TestGatewayEphemeral(t *testing.T) {
	srv := startGateway(t, nil, "")
	d := startDriver(t)
	d.do("connect", map[string]any{"name": "a", "url": srv.URL})
	d.do("connect", map[string]any{"name": "b", "url": srv.URL})
	join(t, d, "a", "r", nil)
	join(t, d, "b", "r", nil)
	ack := ackOf(t, d.do("emit", map[string]any{"name": "a", "event": "typing", "args": []any{map[string]any{"room": "r", "user": "a", "ephemeral": true}}, "ack": true}))
	if ack["ok"] != true || ack["ephemeral"] != true {
		t.Fatalf("ack = %v", ack)
	}
	evs := d.waitEvents("b", 1)
	data, meta, token := decodeEvent(t, evs[0])
	if evs[0].Event != "typing" || data["user"] != "a" || meta["ephemeral"] != true || meta["offset"] != nil || token != "" {
		t.Fatalf("received %s", evs[0])
	}
	res, _ := srv.b.History(context.Background(), "r", 0, 10)
	if len(res.Events) != 0 {
		t.Fatalf("ephemeral event was logged")
	}
}

func TestGatewayJoinFromAnotherLog(t *testing.T) {
	srv := startGateway(t, nil, "")
	first := srv.publish("r", "chat:message", 1).Offset
	d := startDriver(t)
	d.do("connect", map[string]any{"name": "c", "url": srv.URL})
	tests := []struct {
		name  string
		arg   map[string]any
		reset bool
	}{
		{name: "offset beyond the head", arg: map[string]any{"room": "r", "after": 999}, reset: true},
		{name: "another epoch", arg: map[string]any{"room": "r2", "after": 1, "epoch": "01OLDEPOCH"}, reset: true},
		{name: "this epoch", arg: map[string]any{"room": "r3", "after": 0, "epoch": srv.b.Epoch()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ack := ackOf(t, d.do("emit", map[string]any{"name": "c", "event": "room:join", "args": []any{tc.arg}, "ack": true}))
			reset, _ := ack["reset"].(map[string]any)
			if ack["ok"] != true || ack["epoch"] != srv.b.Epoch() || (reset != nil) != tc.reset || ack["recovered"] != !tc.reset {
				t.Fatalf("ack = %v", ack)
			}
			if tc.reset && reset["reason"] != "epoch_mismatch" {
				t.Fatalf("reset = %v", reset)
			}
		})
	}
	// The room joined from another log's position starts at its earliest event.
	if got := offsetsOf(t, d.waitEvents("c", 1)); len(got) != 1 || got[0] != first {
		t.Fatalf("received %v, want [%d]", got, first)
	}
}

// Joining a room the socket is already in (a retried join) changes
// nothing: no event is sent again, and the saved session does not move
// (it must not claim what was sent but perhaps not received).
func TestGatewayRejoinChangesNothing(t *testing.T) {
	srv := startGateway(t, nil, "")
	d := startDriver(t)
	d.do("connect", map[string]any{"name": "c", "url": srv.URL})
	join(t, d, "c", "r", 0)
	srv.publish("r", "chat:message", 1)
	d.waitEvents("c", 1)
	before := fmt.Sprint(sessionRecords(t, srv.b))
	if ack := join(t, d, "c", "r", 0); ack["recovered"] != true {
		t.Fatalf("second join: %v", ack)
	}
	if after := fmt.Sprint(sessionRecords(t, srv.b)); after != before {
		t.Fatalf("a second join changed the session record:\n%s\nwas\n%s", after, before)
	}
	marker := srv.publish("r", "chat:message", "marker").Offset
	if got := offsetsOf(t, d.waitEvents("c", 1)); len(got) != 1 || got[0] != marker {
		t.Fatalf("after the second join received %v, want only the marker %d", got, marker)
	}
}
