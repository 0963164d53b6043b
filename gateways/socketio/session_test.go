package socketio_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
	"github.com/rtbroker/rtbroker/gateways/socketio"
)

// sessionRecords returns the Socket.IO session records of the broker's
// state store, by key.
func sessionRecords(t testing.TB, b *broker.Broker) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := b.ScanState(context.Background(), "sio/session/", func(r broker.Record) bool {
		out[r.Key] = string(r.Value)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Session records are not events: however many clients connected, joined
// and left before, the first event published has offset 1.
func TestGatewayOffsetsStartAtOne(t *testing.T) {
	srv := startGateway(t, nil, "")
	d := startDriver(t)
	for i := range 20 {
		name := fmt.Sprint("c", i)
		d.do("connect", map[string]any{"name": name, "url": srv.URL})
		join(t, d, name, "lobby", nil)
		join(t, d, name, fmt.Sprint("room", i), 0)
		ackOf(t, d.do("emit", map[string]any{"name": name, "event": "room:leave", "args": []any{map[string]any{"room": "lobby"}}, "ack": true}))
		if i%2 == 0 {
			d.do("disconnect", map[string]any{"name": name})
		}
	}
	if n := len(sessionRecords(t, srv.b)); n != 20 {
		t.Fatalf("%d session records, want 20", n)
	}
	if h := srv.b.Head().Offset; h != 0 {
		t.Fatalf("log head %d after connects, joins and leaves, want 0", h)
	}
	if ev := srv.publish("lobby", "chat:message", "first"); ev.Offset != 1 {
		t.Fatalf("first event has offset %d, want 1", ev.Offset)
	}
	rooms, err := srv.b.Rooms(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rooms) != 1 || rooms[0].Name != "lobby" {
		t.Fatalf("rooms %v, want only lobby", rooms)
	}
}

// A join from an earlier offset is a catch-up: its events come after
// higher offsets already sent, and recovery still resumes every room
// exactly, whichever event the client last received.
func TestGatewayRecoveryAfterCatchUp(t *testing.T) {
	srv := startGateway(t, nil, "")
	d := startDriver(t)
	first := d.do("connect", map[string]any{"name": "c", "url": srv.URL, "opts": map[string]any{"transports": []string{"websocket"}}})
	var old []uint64
	for i := range 3 {
		old = append(old, srv.publish("b", "chat:message", i).Offset)
	}
	join(t, d, "c", "a", nil)
	srv.publish("a", "chat:message", "a1")
	d.waitEvents("c", 1)
	join(t, d, "c", "b", 0) // b's three events are below what a was sent
	if got := offsetsOf(t, d.waitEvents("c", 3)); fmt.Sprint(got) != fmt.Sprint(old) {
		t.Fatalf("catch-up of b: %v, want %v", got, old)
	}
	d.do("engineClose", map[string]any{"name": "c"})
	var missed []uint64
	for i := range 4 {
		missed = append(missed, srv.publish([]string{"a", "b"}[i%2], "chat:message", i).Offset)
	}
	again := d.do("waitConnect", map[string]any{"name": "c", "timeout": 20000})
	if again["recovered"] != true || again["sid"] != first["sid"] {
		t.Fatalf("reconnect: %v, want recovered with sid %v", again, first["sid"])
	}
	if got := offsetsOf(t, d.waitEvents("c", 4)); fmt.Sprint(got) != fmt.Sprint(missed) {
		t.Fatalf("after recovery received %v, want %v", got, missed)
	}
}

// A record written behind (at connect and disconnect: not awaited) may be
// lost in a crash; the record before it then still resumes the client
// exactly (or refuses it): never a gap. Here the store is put back to the
// join's record after the client recovered once and got an event on its
// new connection.
func TestGatewayLostConnectRecord(t *testing.T) {
	srv := startGateway(t, nil, "")
	d := startDriver(t)
	first := d.do("connect", map[string]any{"name": "c", "url": srv.URL, "opts": map[string]any{"transports": []string{"websocket"}}})
	join(t, d, "c", "a", nil)
	srv.publish("a", "chat:message", "a1")
	d.waitEvents("c", 1)
	joined := sessionRecords(t, srv.b)
	d.do("engineClose", map[string]any{"name": "c"})
	if again := d.do("waitConnect", map[string]any{"name": "c", "timeout": 20000}); again["recovered"] != true {
		t.Fatalf("first reconnect: %v", again)
	}
	srv.publish("a", "chat:message", "a2")
	d.waitEvents("c", 1)
	srv.stop()
	// The crash lost what was written behind since the join.
	l := srv.store.Open()
	for k, v := range joined {
		if err := l.Put(context.Background(), []broker.Record{{Key: k, Value: []byte(v)}}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	srv = startGateway(t, srv.store, srv.addr)
	a3 := srv.publish("a", "chat:message", "a3").Offset
	again := d.do("waitConnect", map[string]any{"name": "c", "timeout": 20000})
	if again["recovered"] != true || again["sid"] != first["sid"] {
		t.Fatalf("reconnect: %v, want recovered with sid %v", again, first["sid"])
	}
	if got := offsetsOf(t, d.waitEvents("c", 1)); fmt.Sprint(got) != fmt.Sprint([]uint64{a3}) {
		t.Fatalf("after recovery received %v, want [%d]", got, a3)
	}
}

// A session is recoverable for RecoveryWindow after its last record, then
// its record expires.
func TestGatewayRecoveryWindow(t *testing.T) {
	store := brokertest.NewMemStore()
	srv := startGatewayWith(t, store, "", func(c *socketio.GatewayConfig) { c.RecoveryWindow = 300 * time.Millisecond })
	d := startDriver(t)
	d.do("connect", map[string]any{"name": "c", "url": srv.URL, "opts": map[string]any{"transports": []string{"websocket"}}})
	join(t, d, "c", "a", nil)
	srv.publish("a", "chat:message", "a1")
	d.waitEvents("c", 1)
	srv.stop()
	time.Sleep(600 * time.Millisecond)
	srv = startGatewayWith(t, store, srv.addr, func(c *socketio.GatewayConfig) { c.RecoveryWindow = 300 * time.Millisecond })
	again := d.do("waitConnect", map[string]any{"name": "c", "timeout": 20000})
	if again["recovered"] != false {
		t.Fatalf("reconnect after the window: %v, want recovered: false", again)
	}
	if n := len(sessionRecords(t, srv.b)); n != 1 {
		t.Fatalf("%d session records, want only the new session's", n)
	}
}

// A session whose only record was lost in a crash (written behind at
// connect, not yet committed) is unknown after the restart: the client is
// told recovered: false and gets a fresh session.
func TestGatewayLostFirstRecord(t *testing.T) {
	srv := startGateway(t, nil, "")
	d := startDriver(t)
	first := d.do("connect", map[string]any{"name": "c", "url": srv.URL, "opts": map[string]any{"transports": []string{"websocket"}}})
	srv.stop()
	l := srv.store.Open()
	var lost []broker.Record
	err := l.Scan(context.Background(), "sio/session/", func(r broker.Record) bool {
		lost = append(lost, broker.Record{Key: r.Key}) // a nil Value deletes
		return true
	})
	if err != nil || len(lost) != 1 {
		t.Fatalf("records %v, %v; want the one session's", lost, err)
	}
	if err := l.Put(context.Background(), lost); err != nil {
		t.Fatal(err)
	}
	l.Close()
	srv = startGateway(t, srv.store, srv.addr)
	again := d.do("waitConnect", map[string]any{"name": "c", "timeout": 20000})
	if again["recovered"] != false || again["sid"] == first["sid"] {
		t.Fatalf("reconnect without a record: %v, want a fresh session", again)
	}
}

// Fresh sockets that join several rooms from an earlier offset, one after
// another or all at once (joins in flight together), each receive every
// event of every room exactly once: the catch-up of a join is never lost
// to the joins around it.
func TestGatewayJoinsFromOffsetStress(t *testing.T) {
	srv := startGateway(t, nil, "")
	d := startDriver(t)
	for i := range 12 {
		rooms := []string{fmt.Sprint("a", i), fmt.Sprint("b", i), fmt.Sprint("c", i)}
		want := map[uint64]bool{}
		for _, r := range rooms {
			for k := range 3 {
				want[srv.publish(r, "chat:message", k).Offset] = true
			}
		}
		name := fmt.Sprint("s", i)
		opts := map[string]any{}
		if i%2 == 1 {
			opts["transports"] = []string{"websocket"}
		}
		d.do("connect", map[string]any{"name": name, "url": srv.URL, "opts": opts})
		if i%3 == 0 {
			for _, r := range rooms {
				join(t, d, name, r, 0)
			}
		} else {
			args := make([]any, len(rooms))
			for j, r := range rooms {
				args[j] = []any{map[string]any{"room": r, "after": 0}}
			}
			d.do("burst", map[string]any{"name": name, "event": "room:join", "args": args})
			d.do("burstAcks", map[string]any{"name": name, "count": len(rooms)})
		}
		got := offsetsOf(t, d.waitEvents(name, len(want)))
		seen := map[uint64]bool{}
		for _, off := range got {
			if !want[off] || seen[off] {
				t.Fatalf("socket %d received %v, want each of %v once", i, got, want)
			}
			seen[off] = true
		}
		d.do("disconnect", map[string]any{"name": name})
	}
}
