package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/rtbroker/rtbroker/gateways/socketio/socketiotest"

	"github.com/golang-jwt/jwt/v5"
)

// sioRow is a hostile Socket.IO client (the real socket.io-client) and
// what it must see (see hostile_test.go). The hostile socket connects
// from the hostile address with opts (default: a good token of ada's);
// either the connect fails as wantConnect says, or the socket then emits
// steps in order, each acked as it says, and still joins a room after
// the last (the connection stays) — unless wantDrop says the last step
// closes the connection.
type sioRow struct {
	name  string
	only  string   // "websocket" or "polling": the row applies to that transport only
	flags []string // the row runs on a server of its own, started with these flags too
	// before runs first; what it returns, if anything, runs after the row.
	before      func(t *testing.T, e *sioEnv) (undo func())
	run         func(t *testing.T, e *sioEnv) // instead of a socket: a row that is plain HTTP
	opts        map[string]any
	wantConnect *sioConnErr
	steps       []sioStep
	wantDrop    bool     // the last step (sent without an ack) closes the connection: 1009 on WebSocket, 413 on polling
	logged      []string // events the row may add to the log (logKey)
}

// sioConnErr is a refused connect: a CONNECT refused by the server
// (connect_error with message and data.code `code`, data.message holding
// msg) or a refused handshake (HTTP status; socket.io-client reports
// "websocket error" or "xhr poll error" with the status).
type sioConnErr struct {
	code, msg string
	status    int
}

// sioStep is one emit and the ack it must get: wantCode "" is {ok: true}.
type sioStep struct {
	event    string
	arg      map[string]any
	wantCode string
	wantMsg  string
}

// sioEnv is a hostile table's server with the driver of its sockets.
type sioEnv struct {
	*hostileEnv
	d         *socketiotest.Driver
	transport string
	sockets   int
}

// connect connects a new socket with opts added to the transport (and,
// for a hostile socket, the hostile address); it returns the socket's
// name and the driver's reply, whatever its outcome.
func (e *sioEnv) connect(t *testing.T, opts map[string]any, hostile bool) (string, map[string]any) {
	t.Helper()
	e.sockets++
	name := fmt.Sprintf("s%d", e.sockets)
	o := map[string]any{"transports": []string{e.transport}, "reconnection": false}
	if hostile {
		o["localAddress"] = hostileIP
	}
	maps.Copy(o, opts)
	return name, e.d.Try("connect", map[string]any{"name": name, "url": e.srv.URL, "opts": o})
}

// emit emits event with arg on socket name and returns the ack.
func (e *sioEnv) emit(t *testing.T, name, event string, arg map[string]any) map[string]any {
	t.Helper()
	return socketiotest.Ack(t, e.d.Do("emit", map[string]any{"name": name, "event": event, "args": []any{arg}, "ack": true}))
}

// checkAck fails unless ack is ok (wantCode "") or the error wantCode.
func checkAck(t *testing.T, what string, ack map[string]any, wantCode, wantMsg string) {
	t.Helper()
	if wantCode == "" {
		if ack["ok"] != true {
			t.Fatalf("%s: ack %v, want ok", what, ack)
		}
		return
	}
	e, _ := ack["error"].(map[string]any)
	if ack["ok"] != false || e["code"] != wantCode || !strings.Contains(fmt.Sprint(e["message"]), wantMsg) {
		t.Fatalf("%s: ack %v, want error %s %q", what, ack, wantCode, wantMsg)
	}
}

// checkConnectError fails unless reply is the refusal want.
func (e *sioEnv) checkConnectError(t *testing.T, reply map[string]any, want *sioConnErr) {
	t.Helper()
	if reply["ok"] == true {
		t.Fatalf("connected (%v), want %+v", reply, want)
	}
	var ce struct {
		Message     string          `json:"message"`
		Data        json.RawMessage `json:"data"`
		Description any             `json:"description"`
	}
	if err := json.Unmarshal([]byte(fmt.Sprint(reply["error"])), &ce); err != nil {
		t.Fatalf("connect failed without a connect_error: %v", reply["error"])
	}
	if want.status != 0 {
		wantMsg := map[string]string{"websocket": "websocket error", "polling": "xhr poll error"}[e.transport]
		if ce.Message != wantMsg || !strings.Contains(fmt.Sprint(ce.Description), fmt.Sprint(want.status)) {
			t.Fatalf("connect_error %+v, want %q with status %d", ce, wantMsg, want.status)
		}
		return
	}
	var data struct{ Code, Message string }
	json.Unmarshal(ce.Data, &data)
	if ce.Message != want.code || data.Code != want.code || !strings.Contains(data.Message, want.msg) {
		t.Fatalf("connect_error %+v (data %s), want %s %q", ce, ce.Data, want.code, want.msg)
	}
}

// TestHostileSocketIO is the table of Socket.IO, run over WebSocket and
// over HTTP long-polling.
func TestHostileSocketIO(t *testing.T) {
	ada, flood := userToken(t, "ada", nil), userToken(t, "flood", nil)
	bad := badTokens(t)
	auth := func(tok string) map[string]any { return map[string]any{"auth": map[string]any{"token": tok}} }
	sioPlacements := []struct {
		name string
		opts func(tok string) map[string]any
	}{
		{"auth.token", auth},
		{"query", func(tok string) map[string]any { return map[string]any{"query": map[string]any{"token": tok}} }},
		{"Authorization header", func(tok string) map[string]any {
			return map[string]any{"extraHeaders": map[string]any{"Authorization": "Bearer " + tok}}
		}},
		{"cookie", func(tok string) map[string]any {
			return map[string]any{"extraHeaders": map[string]any{"Cookie": "rtbroker_token=" + tok}}
		}},
	}
	unauthorized := &sioConnErr{code: "unauthorized"}
	publish := func(room string, wantCode, wantMsg string) sioStep {
		return sioStep{event: "chat:message", arg: map[string]any{"room": room, "text": "hi"}, wantCode: wantCode, wantMsg: wantMsg}
	}
	join := func(room string, wantCode, wantMsg string) sioStep {
		return sioStep{event: "room:join", arg: map[string]any{"room": room}, wantCode: wantCode, wantMsg: wantMsg}
	}
	rows := []sioRow{
		{name: "no token", opts: map[string]any{}, wantConnect: &sioConnErr{code: "unauthorized", msg: "a token is required"}},
		{name: "token not a string", opts: map[string]any{"auth": map[string]any{"token": 42}}, wantConnect: &sioConnErr{code: "unauthorized", msg: "must be a string"}},
	}
	for _, b := range bad {
		for _, p := range sioPlacements {
			rows = append(rows, sioRow{name: b.name + " in the " + p.name, opts: p.opts(b.token), wantConnect: unauthorized})
		}
	}
	rows = append(rows, []sioRow{
		{name: "token for another room", steps: []sioStep{join("ops", "forbidden", ""), join("user:bob", "forbidden", "")}},
		{name: "presence of another room", steps: []sioStep{{event: "room:presence", arg: map[string]any{"room": "ops"}, wantCode: "forbidden"}}},
		{name: "presence without a room", steps: []sioStep{{event: "room:presence", arg: map[string]any{"room": 7}, wantCode: "invalid_argument"}}},
		{name: "forged presence event", opts: auth(userToken(t, "forger", nil)), steps: []sioStep{{event: "presence:join", arg: map[string]any{"room": "general", "user": "bob", "ephemeral": true}, wantCode: "invalid_argument", wantMsg: "reserved"}}},
		{name: "publish without permission", steps: []sioStep{publish("news:x", "forbidden", ""), {event: "typing", arg: map[string]any{"room": "news:x", "ephemeral": true}, wantCode: "forbidden"}}},
		{name: "cross-origin WebSocket", only: "websocket", opts: map[string]any{"auth": map[string]any{"token": ada}, "origin": evilOrigin}, wantConnect: &sioConnErr{status: 403}},
		{name: "cross-origin request", only: "polling", run: func(t *testing.T, e *sioEnv) {
			// A browser page elsewhere gets no CORS header (it cannot read
			// the answer, so it never learns the session id) and its
			// preflights are refused.
			c := clientFrom(hostileIP)
			status, body, h := send(t, c, hreq{method: "GET", url: e.srv.URL + "/socket.io/?EIO=4&transport=polling", cred: cred{cookie: ada}, hdr: map[string]string{"Origin": evilOrigin}})
			if status != 200 || h.Get("Access-Control-Allow-Origin") != "" {
				t.Fatalf("cross-origin handshake: %d %s %v", status, body, h)
			}
			status, body, _ = send(t, c, hreq{method: "OPTIONS", url: e.srv.URL + "/socket.io/?EIO=4&transport=polling", hdr: map[string]string{"Origin": evilOrigin, "Access-Control-Request-Method": "POST"}})
			if status != 403 || errCode(body) != "forbidden" {
				t.Fatalf("cross-origin preflight: %d %s", status, body)
			}
		}},
		{
			name: "oversized message (over --sio-max-payload)", wantDrop: true,
			steps: []sioStep{{event: "chat:message", arg: map[string]any{"room": "general", "text": strings.Repeat("x", 5000)}}},
		},
		{name: "data over --max-data-size", steps: []sioStep{{event: "chat:message", arg: map[string]any{"room": "general", "text": strings.Repeat("x", 2000)}, wantCode: "too_large"}}},
		{name: "join with history over --max-history", steps: []sioStep{{event: "room:join", arg: map[string]any{"room": "general", "history": 1001}, wantCode: "invalid_argument", wantMsg: "more than the maximum, 1000"}}},
		{name: "join with a history that is not a count", steps: []sioStep{{event: "room:join", arg: map[string]any{"room": "general", "history": "-1"}, wantCode: "invalid_argument", wantMsg: "whole number"}, {event: "room:join", arg: map[string]any{"room": "general", "history": map[string]any{}}, wantCode: "invalid_argument"}}},
		{name: "join asking presence with a non-boolean", steps: []sioStep{{event: "room:join", arg: map[string]any{"room": "general", "presence": "yes"}, wantCode: "invalid_argument", wantMsg: "true or false"}}},
		{
			name: "join asking presence without the presence permission",
			opts: auth(userToken(t, "ada", func(c jwt.MapClaims) {
				c["rooms"] = map[string]any{"subscribe": []string{"general"}, "presence": []string{}}
			})),
			steps: []sioStep{{event: "room:join", arg: map[string]any{"room": "general", "presence": true}, wantCode: "forbidden", wantMsg: "presence events asked for"}},
		},
		{name: "another pair's direct messages", steps: []sioStep{join("dm:bob:eve", "forbidden", "two users only"), publish("dm:bob:eve", "forbidden", "two users only"), publish("dm:bob:ada", "forbidden", "not a direct-message room")}},
		{name: "typing without a room", steps: []sioStep{{event: "typing:start", arg: map[string]any{"text": "no room"}, wantCode: "invalid_argument", wantMsg: "string room"}}},
		{name: "typing without permission", steps: []sioStep{{event: "typing:start", arg: map[string]any{"room": "news:x"}, wantCode: "forbidden"}, {event: "typing:stop", arg: map[string]any{"room": "dm:bob:eve"}, wantCode: "forbidden"}}},
		{
			name: "typists over --max-typists", flags: []string{"--max-typists", "1"},
			steps: []sioStep{{event: "typing:start", arg: map[string]any{"room": "general"}}, {event: "typing:start", arg: map[string]any{"room": "user:ada"}, wantCode: "rate_limited", wantMsg: "too many typists"}},
		},
		{name: "too many rooms", steps: []sioStep{join("general", "", ""), join("news:a", "", ""), join("news:b", "", ""), join("news:c", "", ""), join("news:d", "invalid_argument", "too many rooms")}},
		{
			name: "too many connections from one IP", flags: []string{"--max-conns-per-ip", "2"},
			before:      hostileSockets(2, ada, false),
			wantConnect: &sioConnErr{status: 429},
		},
		{
			name: "connect flood", flags: []string{"--connect-rate", "1/h", "--connect-burst", "3"},
			before:      hostileSockets(3, ada, true),
			wantConnect: &sioConnErr{status: 429},
		},
		{
			name: "publish flood", opts: auth(flood),
			steps:  []sioStep{publish("general", "", ""), publish("general", "", ""), publish("general", "", ""), publish("general", "rate_limited", "")},
			logged: []string{logKey("general", "chat:message", "flood"), logKey("general", "chat:message", "flood"), logKey("general", "chat:message", "flood")},
		},
		{name: "publish flood without acks: an error event per refused publish", run: func(t *testing.T, e *sioEnv) {
			sub := "flood-noack-" + e.transport
			name, reply := e.connect(t, auth(userToken(t, sub, nil)), true)
			defer e.d.Try("disconnect", map[string]any{"name": name})
			if reply["ok"] != true {
				t.Fatalf("connect: %v", reply["error"])
			}
			for range 6 {
				e.d.Do("emit", map[string]any{"name": name, "event": "chat:message", "args": []any{map[string]any{"room": "general", "text": "hi"}}})
			}
			e.expect = append(e.expect, logKey("general", "chat:message", sub), logKey("general", "chat:message", sub), logKey("general", "chat:message", sub))
			for i, ev := range e.d.WaitEvents(name, 3) {
				var got struct{ Code, Message, Event string }
				if ev.Event != "error" || len(ev.Args) != 1 || json.Unmarshal(ev.Args[0], &got) != nil || got.Code != "rate_limited" || got.Event != "chat:message" {
					t.Fatalf("event %d: %v, want error {code: rate_limited, event: chat:message}", i, ev)
				}
			}
			waitLogged(t, e.srv.URL, logKey("general", "chat:message", sub), 3) // the accepted ones commit unacked: before the good client joins
		}},
		{name: "publish flood: another socket of the identity shares the bucket", opts: auth(flood), steps: []sioStep{publish("general", "rate_limited", "")}},
	}...)
	rows = append(rows, binaryRows(ada)...)
	rows = append(rows, receiptSIORows()...)
	rows = append(rows, messageSIORows()...) // edit and delete (hostile_messages_test.go)

	for _, transport := range []string{"websocket", "polling"} {
		t.Run(transport, func(t *testing.T) {
			d := socketiotest.Start(t)
			shared := &sioEnv{hostileEnv: newHostileEnv(t, "sio-"+transport), d: d, transport: transport}
			secrets := tableSecrets(bad, ada, flood)
			shared.secrets = secrets
			for _, row := range rows {
				if row.only != "" && row.only != transport {
					continue
				}
				t.Run(row.name, func(t *testing.T) {
					e := shared
					if row.flags != nil {
						e = &sioEnv{hostileEnv: newHostileEnv(t, "sio-"+transport, row.flags...), d: d, transport: transport}
						e.secrets = secrets
					}
					if row.before != nil {
						if undo := row.before(t, e); undo != nil {
							defer undo()
						}
					}
					if row.run != nil {
						row.run(t, e)
					} else {
						runSIORow(t, e, row, ada, secrets)
					}
					e.expect = append(e.expect, row.logged...)
					sioStillServes(t, e)
					e.checkLog(t)
					if e != shared {
						e.checkQuiet(t)
					}
				})
			}
			shared.checkQuiet(t)
		})
	}
}

// runSIORow connects the row's hostile socket and checks what it sees.
func runSIORow(t *testing.T, e *sioEnv, row sioRow, ada string, secrets []string) {
	t.Helper()
	opts := row.opts
	if opts == nil {
		opts = map[string]any{"auth": map[string]any{"token": ada}}
	}
	name, reply := e.connect(t, opts, true)
	defer e.d.Try("disconnect", map[string]any{"name": name})
	for _, s := range secrets {
		if strings.Contains(fmt.Sprint(reply), s) {
			t.Fatalf("the answer echoes a credential: %v", reply)
		}
	}
	if row.wantConnect != nil {
		e.checkConnectError(t, reply, row.wantConnect)
		return
	}
	if reply["ok"] != true {
		t.Fatalf("connect: %v", reply["error"])
	}
	for i, s := range row.steps {
		if row.wantDrop && i == len(row.steps)-1 {
			e.d.Do("emit", map[string]any{"name": name, "event": s.event, "args": []any{s.arg}})
			m := e.d.Do("waitDisconnect", map[string]any{"name": name})
			want := map[string]any{"websocket": "transport close 1009", "polling": "transport error 413"}[e.transport]
			code := m["code"]
			if e.transport == "polling" {
				code = m["description"]
			}
			if got := fmt.Sprint(m["reason"], " ", code); got != want {
				t.Fatalf("after an oversized message: disconnect %v, want %s", m, want)
			}
			return
		}
		checkAck(t, fmt.Sprintf("step %d (%s %v)", i+1, s.event, s.arg["room"]), e.emit(t, name, s.event, s.arg), s.wantCode, s.wantMsg)
	}
	// Refused events leave the connection usable.
	checkAck(t, "join after the row", e.emit(t, name, "room:join", map[string]any{"room": "general"}), "", "")
}

// hostileSockets is a before step: it connects n sockets with tok from
// the hostile address (disconnecting each at once when drop is set, else
// after the row).
func hostileSockets(n int, tok string, drop bool) func(*testing.T, *sioEnv) func() {
	return func(t *testing.T, e *sioEnv) func() {
		t.Helper()
		var names []string
		for range n {
			name, reply := e.connect(t, map[string]any{"auth": map[string]any{"token": tok}}, true)
			if reply["ok"] != true {
				t.Fatalf("hostile socket %d of %d before the row: %v", len(names)+1, n, reply["error"])
			}
			if drop {
				e.d.Do("disconnect", map[string]any{"name": name})
				continue
			}
			names = append(names, name)
		}
		return func() {
			for _, name := range names {
				e.d.Try("disconnect", map[string]any{"name": name})
			}
		}
	}
}

// sioStillServes connects a fresh good identity over the table's
// transport from 127.0.0.1: it joins general, publishes, and receives its
// event.
func sioStillServes(t *testing.T, e *sioEnv) {
	t.Helper()
	sub := e.goodSub()
	name, reply := e.connect(t, map[string]any{"auth": map[string]any{"token": userToken(t, sub, nil)}}, false)
	defer e.d.Try("disconnect", map[string]any{"name": name})
	if reply["ok"] != true {
		t.Fatalf("good client connect: %v", reply["error"])
	}
	checkAck(t, "good join", e.emit(t, name, "room:join", map[string]any{"room": "general"}), "", "")
	checkAck(t, "good publish", e.emit(t, name, "good:check", map[string]any{"room": "general", "n": 1}), "", "")
	e.expect = append(e.expect, logKey("general", "good:check", sub))
	evs := e.d.WaitEvents(name, 1)
	var meta struct{ From string }
	if len(evs[0].Args) > 1 {
		json.Unmarshal(evs[0].Args[1], &meta)
	}
	if evs[0].Event != "good:check" || meta.From != sub {
		t.Fatalf("good client received %v", evs)
	}
}
