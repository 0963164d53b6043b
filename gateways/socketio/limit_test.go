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
	"github.com/rtbroker/rtbroker/gateways/socketio"
)

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
	ml := brokertest.NewMemStore().Open()
	hl := &heldLog{Log: ml}
	b := broker.New(hl, broker.Config{State: ml}) // session records are not held
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
			published := 0
			for _, a := range acks {
				a := a.(map[string]any)
				ack, _ := a["ack"].(map[string]any)
				if ack["offset"] != nil && ack["ok"] == true {
					offsets[int(a["i"].(float64))] = ack["offset"].(float64)
					published++
					continue
				}
				// The leave: read once the event without an ack got its
				// slot, it may find the held publishes not all acked yet
				// and be refused; either answer is right.
				e, _ := ack["error"].(map[string]any)
				if ack["ok"] != true && e["code"] != "rate_limited" {
					t.Fatalf("ack after the release: %v", a)
				}
			}
			if published != maxPending {
				t.Fatalf("%d of the %d held publishes acked with an offset: %v", published, maxPending, acks)
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
