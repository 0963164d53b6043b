package main

import (
	"encoding/json"
	"testing"

	"github.com/rtbroker/rtbroker/gateways/socketio/socketiotest"
)

// sioDriver is the shared socket.io-client driver (socketiotest) with the
// helpers these tests use.
type sioDriver struct {
	*socketiotest.Driver
	t testing.TB
}

// startSIODriver starts the driver; it is stopped at the end of the test.
func startSIODriver(t testing.TB) *sioDriver {
	t.Helper()
	return &sioDriver{Driver: socketiotest.Start(t), t: t}
}

// try and do are the driver's Try and Do.
func (d *sioDriver) try(op string, args map[string]any) map[string]any {
	d.t.Helper()
	return d.Try(op, args)
}

func (d *sioDriver) do(op string, args map[string]any) map[string]any {
	d.t.Helper()
	return d.Do(op, args)
}

// connect connects socket name to url (base URL plus namespace) with
// token as auth.token ("" for none); shared puts it on the connection of
// the other shared sockets of that URL's server (one Engine.IO connection,
// several namespaces). It returns the driver's reply, ok or not.
func (d *sioDriver) connect(name, url, token string, shared bool) map[string]any {
	d.t.Helper()
	opts := map[string]any{"forceNew": !shared}
	if token != "" {
		opts["auth"] = map[string]any{"token": token}
	}
	return d.try("connect", map[string]any{"name": name, "url": url, "opts": opts})
}

// emit emits event with arg and returns the ack.
func (d *sioDriver) emit(name, event string, arg map[string]any) map[string]any {
	d.t.Helper()
	m := d.do("emit", map[string]any{"name": name, "event": event, "args": []any{arg}, "ack": true})
	acks, _ := m["ack"].([]any)
	if len(acks) != 1 {
		d.t.Fatalf("%s %s: ack %v", name, event, m)
	}
	ack, _ := acks[0].(map[string]any)
	return ack
}

// sioEvent is one event a driver socket received: its name, data and meta.
type sioEvent struct {
	Event string
	Data  map[string]any
	Meta  struct {
		Room   string `json:"room"`
		Offset uint64 `json:"offset"`
		From   string `json:"from"`
	}
}

// until returns the events socket name receives up to and including the
// one with offset marker (published after the events that matter, so that
// anything sent before it has arrived).
func (d *sioDriver) until(name string, marker uint64) []sioEvent {
	d.t.Helper()
	var out []sioEvent
	for len(out) == 0 || out[len(out)-1].Meta.Offset != marker {
		m := d.do("wait", map[string]any{"name": name, "count": 1})
		var evs []struct {
			Event string            `json:"event"`
			Args  []json.RawMessage `json:"args"`
		}
		b, _ := json.Marshal(m["events"])
		if err := json.Unmarshal(b, &evs); err != nil {
			d.t.Fatal(err)
		}
		for _, e := range evs {
			ev := sioEvent{Event: e.Event}
			if len(e.Args) >= 2 {
				json.Unmarshal(e.Args[0], &ev.Data)
				json.Unmarshal(e.Args[1], &ev.Meta)
			}
			out = append(out, ev)
			if ev.Meta.Offset == marker {
				break
			}
		}
	}
	return out
}

// offsets lists the events' offsets.
func offsets(evs []sioEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Meta.Offset
	}
	return out
}
