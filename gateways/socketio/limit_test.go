package socketio_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
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

// heldLog wraps a Log and holds every Append while hold is set: a fault
// injector that keeps commits in flight.
type heldLog struct {
	broker.Log
	mu   sync.Mutex
	gate chan struct{} // nil: Append goes through; else it waits for the close
}

func (h *heldLog) hold() {
	h.mu.Lock()
	h.gate = make(chan struct{})
	h.mu.Unlock()
}

func (h *heldLog) release() {
	h.mu.Lock()
	close(h.gate)
	h.gate = nil
	h.mu.Unlock()
}

func (h *heldLog) Append(ctx context.Context, entries []broker.Entry) ([]*broker.Event, error) {
	h.mu.Lock()
	gate := h.gate
	h.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return h.Log.Append(ctx, entries)
}

// TestMaxPending: a socket has at most MaxPending events awaiting their
// ack. While commits are held, an event over the limit that asks for an
// ack is refused at once with rate_limited; one that asks for none waits
// (its connection's reading pauses) and is logged; the held publishes
// are then logged in the order they were sent and the connection stays.
func TestMaxPending(t *testing.T) {
	const maxPending = 4
	hl := &heldLog{Log: brokertest.NewMemStore().Open()}
	b := broker.New(hl, broker.Config{})
	g := socketio.New(b, socketio.GatewayConfig{MaxPending: maxPending})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done; g.Close(); b.Close(); hl.Close() })
	url := "http://" + ln.Addr().String()

	for _, transport := range []string{"websocket", "polling"} {
		t.Run(transport, func(t *testing.T) {
			d := startDriver(t)
			room := "pending-" + transport
			d.do("connect", map[string]any{"name": "s", "url": url, "opts": map[string]any{"transports": []string{transport}}})
			if ack := ackOf(t, d.do("emit", map[string]any{"name": "s", "event": "room:join", "args": []any{map[string]any{"room": room}}, "ack": true})); ack["ok"] != true {
				t.Fatalf("join: %v", ack)
			}
			hl.hold()
			var args []any
			for i := range maxPending + 1 {
				args = append(args, []any{map[string]any{"room": room, "n": i}})
			}
			d.do("burst", map[string]any{"name": "s", "event": "chat:message", "args": args})
			// The one over the limit is answered while the others wait.
			first := d.do("burstAcks", map[string]any{"name": "s", "count": 1})["acks"].([]any)[0].(map[string]any)
			ack, _ := first["ack"].(map[string]any)
			e, _ := ack["error"].(map[string]any)
			if first["i"] != float64(maxPending) || ack["ok"] != false || e["code"] != "rate_limited" || !strings.Contains(fmt.Sprint(e["message"]), "at most 4") {
				t.Fatalf("first ack while %d are held: %v", maxPending, first)
			}
			// Without an ack the event waits for a slot, and so does what follows.
			d.do("emit", map[string]any{"name": "s", "event": "chat:message", "args": []any{map[string]any{"room": room, "n": "no ack"}}})
			d.do("burst", map[string]any{"name": "s", "event": "room:leave", "args": []any{[]any{map[string]any{"room": "elsewhere"}}}})
			hl.release()
			acks := d.do("burstAcks", map[string]any{"name": "s", "count": maxPending + 1})["acks"].([]any)
			offsets := make([]float64, maxPending)
			for _, a := range acks {
				a := a.(map[string]any)
				ack, _ := a["ack"].(map[string]any)
				if ack["ok"] != true {
					t.Fatalf("ack after the release: %v", a)
				}
				if i := int(a["i"].(float64)); ack["offset"] != nil {
					offsets[i] = ack["offset"].(float64)
				}
			}
			for i := 1; i < maxPending; i++ {
				if offsets[i] <= offsets[i-1] {
					t.Fatalf("publishes logged out of order: offsets %v", offsets)
				}
			}
			// Every accepted event reached the room, in order; the refused one did not.
			evs := d.waitEvents("s", maxPending+1)
			for i, ev := range evs {
				data, _, _ := decodeEvent(t, ev)
				want := any(float64(i))
				if i == maxPending {
					want = "no ack"
				}
				if data["n"] != want {
					t.Fatalf("event %d: %v, want n=%v (all: %v)", i, ev, want, evs)
				}
			}
			d.do("disconnect", map[string]any{"name": "s"})
		})
	}
}
