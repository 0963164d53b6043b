package socketio_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
)

// buf is a Buffer argument for the driver: it turns {"$buffer": base64}
// into a Buffer, and records received Buffers the same way.
func buf(b []byte) map[string]any {
	return map[string]any{"$buffer": base64.StdEncoding.EncodeToString(b)}
}

// pattern returns n bytes that differ from one position to the next.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// TestBinaryEvents sends events with Buffers from socket.io-client, over
// each transport: they are logged with their bytes as $binary objects,
// received as Buffers, equal byte for byte, live by another client and on
// a join with `after`; the data limit counts the bytes decoded (exactly
// at the limit passes, one byte over is refused); bad base64 is refused;
// ephemeral events carry bytes too.
func TestBinaryEvents(t *testing.T) {
	srv := startGateway(t, nil, "")
	d := startDriver(t)
	overhead := len(`{"bin":{"$binary":""}}`)
	limit := 64 << 10 // broker.Config's default MaxDataSize
	exact, over := pattern(limit-overhead), pattern(limit-overhead+1)

	type sent struct {
		arg  map[string]any // published (room added)
		want map[string]any // as received: the data, with Buffers as {"$buffer": base64}
		log  string         // the data in the log, "" when not logged
	}
	cases := []sent{
		{arg: map[string]any{"bin": buf([]byte{1, 2, 3})}, log: `{"bin":{"$binary":"AQID"}}`},
		{arg: map[string]any{"text": "x", "nested": map[string]any{"a": []any{buf([]byte{0}), map[string]any{"b": buf([]byte{0xff, 0xfe})}}}},
			log: `{"nested":{"a":[{"$binary":"AA=="},{"b":{"$binary":"//4="}}]},"text":"x"}`},
		{arg: map[string]any{"a": buf(pattern(300)), "b": buf(pattern(5)), "c": []any{buf(pattern(70000 % 1000)), 1}}},
		{arg: map[string]any{"empty": buf(nil)}, log: `{"empty":{"$binary":""}}`},
		{arg: map[string]any{"bin": buf(exact)}},
	}
	for i := range cases {
		cases[i].want = cases[i].arg
	}

	for _, transport := range []string{"websocket", "polling"} {
		t.Run(transport, func(t *testing.T) {
			room := "files-" + transport
			opts := map[string]any{"transports": []string{transport}}
			for _, name := range []string{"pub", "sub"} {
				d.do("connect", map[string]any{"name": name + transport, "url": srv.URL, "opts": opts})
			}
			pub, sub := "pub"+transport, "sub"+transport
			join(t, d, sub, room, nil)
			var offsets []uint64
			for i, c := range cases {
				arg := map[string]any{"room": room}
				for k, v := range c.arg {
					arg[k] = v
				}
				ack := ackOf(t, d.do("emit", map[string]any{"name": pub, "event": "file:chunk", "args": []any{arg}, "ack": true}))
				if ack["ok"] != true {
					t.Fatalf("case %d: ack %v", i, ack)
				}
				off, _ := ack["offset"].(float64)
				offsets = append(offsets, uint64(off))
			}
			// Refused: one byte over the limit, bad base64 (as JSON).
			for _, bad := range []struct {
				arg      map[string]any
				code, in string
			}{
				{map[string]any{"room": room, "bin": buf(over)}, "too_large", "larger than"},
				{map[string]any{"room": room, "bin": map[string]any{"$binary": "!!!!"}}, "invalid_argument", "$binary"},
			} {
				ack := ackOf(t, d.do("emit", map[string]any{"name": pub, "event": "file:chunk", "args": []any{bad.arg}, "ack": true}))
				e, _ := ack["error"].(map[string]any)
				if ack["ok"] != false || e["code"] != bad.code || !strings.Contains(fmt.Sprint(e["message"]), bad.in) {
					t.Fatalf("refused publish acked %v, want %s", ack, bad.code)
				}
			}
			// Ephemeral events carry bytes too.
			ack := ackOf(t, d.do("emit", map[string]any{"name": pub, "event": "cursor", "args": []any{map[string]any{"room": room, "ephemeral": true, "shape": buf([]byte{9, 8})}}, "ack": true}))
			if ack["ok"] != true || ack["ephemeral"] != true {
				t.Fatalf("ephemeral ack %v", ack)
			}

			checkReceived := func(who string, evs []receivedEvent, ephemeral, catchUp bool) {
				t.Helper()
				want := len(cases)
				if ephemeral {
					want++
				}
				if len(evs) != want {
					t.Fatalf("%s received %d events, want %d: %v", who, len(evs), want, evs)
				}
				for i, c := range cases {
					data, meta, tok := decodeEvent(t, evs[i])
					if evs[i].Event != "file:chunk" || uint64(meta["offset"].(float64)) != offsets[i] || !sameJSON(data, c.want) {
						t.Fatalf("%s: event %d is %.300s, want %.300v", who, i, evs[i], c.want)
					}
					if strings.HasPrefix(tok, "c") != catchUp {
						t.Fatalf("%s: event %d has the offset token %q", who, i, tok)
					}
				}
				if ephemeral {
					data, meta, _ := decodeEvent(t, evs[len(cases)])
					if evs[len(cases)].Event != "cursor" || meta["ephemeral"] != true || !sameJSON(data, map[string]any{"shape": buf([]byte{9, 8})}) {
						t.Fatalf("%s: ephemeral event %s", who, evs[len(cases)])
					}
				}
			}
			checkReceived("live subscriber", d.waitEvents(sub, len(cases)+1), true, false)

			// The log holds the bytes as $binary objects.
			res, err := srv.b.History(context.Background(), room, 0, 100)
			if err != nil || len(res.Events) != len(cases) {
				t.Fatalf("history: %v %v", res.Events, err)
			}
			for i, c := range cases {
				if c.log != "" && string(res.Events[i].Data) != c.log {
					t.Errorf("logged %s, want %s", res.Events[i].Data, c.log)
				}
				if !res.Events[i].Binary() {
					t.Errorf("event %d: Binary() false", i)
				}
			}

			// A client joining with `after` is sent them from the log:
			// encoded for it (see gwNamespace.encode) when it already
			// follows a room further on, shared otherwise.
			for _, catchUp := range []bool{false, true} {
				late := fmt.Sprintf("late-%s-%v", transport, catchUp)
				d.do("connect", map[string]any{"name": late, "url": srv.URL, "opts": opts})
				if catchUp {
					join(t, d, late, "elsewhere", nil)
				}
				join(t, d, late, room, 0)
				checkReceived("join after 0", d.waitEvents(late, len(cases)), false, catchUp)
			}
		})
	}
}

// TestBinaryPublishedOverAPI publishes bytes in the $binary form (as the
// HTTP API does) and checks a socket.io-client receives a Buffer.
func TestBinaryPublishedOverAPI(t *testing.T) {
	srv := startGateway(t, nil, "")
	d := startDriver(t)
	d.do("connect", map[string]any{"name": "c", "url": srv.URL})
	join(t, d, "c", "api", nil)
	raw := []byte(`{"file":"a.bin","chunk":{"$binary":"` + base64.StdEncoding.EncodeToString(pattern(1000)) + `"}}`)
	if _, err := srv.b.Publish(context.Background(), broker.Message{Room: "api", Type: "file:chunk", Data: raw}); err != nil {
		t.Fatal(err)
	}
	evs := d.waitEvents("c", 1)
	data, _, _ := decodeEvent(t, evs[0])
	if !sameJSON(data, map[string]any{"file": "a.bin", "chunk": buf(pattern(1000))}) {
		t.Fatalf("received %s", evs[0])
	}
}

// sameJSON reports whether a and b have the same JSON encoding.
func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
