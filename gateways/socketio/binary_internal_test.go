package socketio

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"github.com/rtbroker/rtbroker/gateways/socketio/protocol"
	"strings"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
)

func TestFromPlaceholders(t *testing.T) {
	atts := [][]byte{{1, 2, 3}, {}, {0xff}}
	b64 := func(i int) string { return `{"$binary":"` + base64.StdEncoding.EncodeToString(atts[i]) + `"}` }
	tests := []struct {
		name    string
		arg     string
		natts   int
		want    string
		wantErr string
	}{
		{name: "top member", arg: `{"room":"r","bin":{"_placeholder":true,"num":0}}`, natts: 1, want: `{"room":"r","bin":` + b64(0) + `}`},
		{name: "nested, in order", natts: 3,
			arg:  `{"room":"r","a":[{"_placeholder":true,"num":0},{"b":{"_placeholder":true,"num":1}}], "c" : { "num" : 2 , "_placeholder" : true } }`,
			want: `{"room":"r","a":[` + b64(0) + `,{"b":` + b64(1) + `}],"c":` + b64(2) + `}`},
		{name: "the same attachment twice", natts: 1, arg: `[{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]`, want: `[` + b64(0) + `,` + b64(0) + `]`},
		{name: "_placeholder false is plain JSON", natts: 1, arg: `{"x":{"_placeholder":false,"num":0},"y":{"_placeholder":true,"num":0}}`, want: `{"x":{"_placeholder":false,"num":0},"y":` + b64(0) + `}`},
		{name: "strings are kept", natts: 1, arg: `{"s":"{\"_placeholder\":true,\"num\":9} \u00e9","p":{"_placeholder":true,"num":0e0}}`, want: `{"s":"{\"_placeholder\":true,\"num\":9} \u00e9","p":` + b64(0) + `}`},
		{name: "num out of range", natts: 1, arg: `{"p":{"_placeholder":true,"num":1}}`, wantErr: "illegal attachments"},
		{name: "negative num", natts: 1, arg: `{"p":{"_placeholder":true,"num":-1}}`, wantErr: "illegal attachments"},
		{name: "fractional num", natts: 2, arg: `{"p":{"_placeholder":true,"num":0.5}}`, wantErr: "illegal attachments"},
		{name: "string num", natts: 1, arg: `{"p":{"_placeholder":true,"num":"0"}}`, wantErr: "illegal attachments"},
		{name: "no num", natts: 1, arg: `{"p":{"_placeholder":true}}`, wantErr: "illegal attachments"},
		{name: "unreferenced attachment", natts: 2, arg: `{"p":{"_placeholder":true,"num":1}}`, wantErr: "attachments count mismatch"},
		{name: "no placeholder", natts: 1, arg: `{"room":"r"}`, wantErr: "attachments count mismatch"},
		{name: "too deep", natts: 1, arg: strings.Repeat("[", 1100) + strings.Repeat("]", 1100), wantErr: "too deep"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkAttachments([]byte(tc.arg), atts[:tc.natts])
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %s %v\nwant %s", got, err, tc.want)
			}
		})
	}
}

// TestEncodeBinaryEvent encodes a logged event with bytes for a namespace
// and decodes it as a client does: a BINARY_EVENT whose placeholders
// stand for the bytes, in order.
func TestEncodeBinaryEvent(t *testing.T) {
	ev := benchEvent(`{"a":{"$binary":"AQID"},"b":[{"$binary":""},{"$binary":"/w=="}],"c":{"$binary":"AQID","x":1}}`)
	ns := &gwNamespace{name: "/admin", prefix: "admin:"}
	ev.Room = "admin:general"
	pkt := ns.encode(ev, token{offset: ev.Offset})
	if !protocol.IsFrames(pkt) {
		t.Fatalf("not a multi-frame packet: %q", pkt)
	}
	var d protocol.Decoder
	var p *protocol.Packet
	var err error
	for _, m := range protocol.AppendFrames(nil, pkt) {
		if p, err = d.Decode(m.Data, m.Binary); err != nil {
			t.Fatal(err)
		}
	}
	if p == nil || p.Type != protocol.PacketBinaryEvent || p.Namespace != "/admin" {
		t.Fatalf("decoded %+v", p)
	}
	wantData := `{"a":{"_placeholder":true,"num":0},"b":[{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}],"c":{"$binary":"AQID","x":1}}`
	if string(p.Args[1]) != wantData {
		t.Errorf("data %s\nwant %s", p.Args[1], wantData)
	}
	want := [][]byte{{1, 2, 3}, {}, {0xff}}
	if len(p.Attachments) != len(want) {
		t.Fatalf("attachments %q", p.Attachments)
	}
	for i := range want {
		if string(p.Attachments[i]) != string(want[i]) {
			t.Errorf("attachment %d = %x, want %x", i, p.Attachments[i], want[i])
		}
	}
	// Back to the log's form: the same data.
	got, err := checkAttachments(p.Args[1], p.Attachments)
	if err != nil || string(got) != string(ev.Data) {
		t.Errorf("round trip %s %v", got, err)
	}
	// An ordinary event stays a text packet.
	if pkt := ns.encode(benchEvent(`{"$binary":"AQID","x":1}`), token{offset: 1}); protocol.IsFrames(pkt) || pkt[0] != '2' {
		t.Errorf("plain event encoded as %q", pkt)
	}
}

// FuzzFromPlaceholders converts any JSON argument with attachments: it
// fails only with an error, and what it returns is valid JSON whose bytes
// turn back into the same placeholders' attachments.
func FuzzFromPlaceholders(f *testing.F) {
	f.Add([]byte(`{"room":"r","bin":{"_placeholder":true,"num":0}}`), uint8(1))
	f.Add([]byte(`[{"_placeholder":true,"num":1},{"x":[{"num":0,"_placeholder":true}]}]`), uint8(2))
	f.Add([]byte(`{"$binary":"AA==","p":{"_placeholder":true,"num":0}}`), uint8(1))
	f.Add([]byte(`{"p":{"_placeholder":true,"num":3}}`), uint8(2))
	f.Fuzz(func(t *testing.T, arg []byte, n uint8) {
		if !json.Valid(arg) {
			return
		}
		atts := make([][]byte, n%8)
		for i := range atts {
			atts[i] = []byte(strings.Repeat(string(rune('a'+i)), i))
		}
		out, err := fromPlaceholders(arg, atts, make([]bool, len(atts)))
		if err != nil {
			if !errors.Is(err, errPlaceholder) && !errors.Is(err, errTooDeep) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output %s", out)
		}
		refs, err := broker.FindBinary(nil, out)
		if err != nil {
			t.Fatalf("output with bad base64: %s: %v", out, err)
		}
		// Encoding the output again and converting it back is the identity.
		back := appendPlaceholders(nil, out, refs)
		text := appendAttachments(append([]byte("51-"), back...), refs)
		var decoded [][]byte
		for _, m := range protocol.AppendFrames(nil, text)[1:] {
			decoded = append(decoded, m.Data)
		}
		again, err := fromPlaceholders(back, decoded, make([]bool, len(decoded)))
		if err != nil || string(again) != string(out) {
			t.Fatalf("round trip of %s: %s %v", out, again, err)
		}
	})
}
