package engineio

import (
	"bytes"
	"testing"
)

func TestDecodePayload(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []packet
		wantErr bool
	}{
		{name: "one message", in: "4hello", want: []packet{{typ: typeMessage, data: []byte("hello")}}},
		{name: "several", in: "4a\x1e4b\x1e3", want: []packet{{typ: typeMessage, data: []byte("a")}, {typ: typeMessage, data: []byte("b")}, {typ: typePong, data: []byte{}}}},
		{name: "binary", in: "4hello\x1ebAQIDBA==", want: []packet{{typ: typeMessage, data: []byte("hello")}, {typ: typeMessage, data: []byte{1, 2, 3, 4}, binary: true}}},
		{name: "binary unpadded", in: "bAQIDBA", want: []packet{{typ: typeMessage, data: []byte{1, 2, 3, 4}, binary: true}}},
		{name: "empty message", in: "4", want: []packet{{typ: typeMessage, data: []byte{}}}},
		{name: "close", in: "1", want: []packet{{typ: typeClose, data: []byte{}}}},
		{name: "empty payload", in: "", wantErr: true},
		{name: "unknown type", in: "abc", wantErr: true},
		{name: "type 7", in: "7x", wantErr: true},
		{name: "empty packet in the middle", in: "4a\x1e\x1e4b", want: []packet{{typ: typeMessage, data: []byte("a")}}, wantErr: true},
		{name: "trailing separator", in: "4a\x1e", want: []packet{{typ: typeMessage, data: []byte("a")}}, wantErr: true},
		{name: "bad base64", in: "b!!!!", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodePayload([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d packets %+v, want %d", len(got), got, len(tc.want))
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if g.typ != w.typ || g.binary != w.binary || !bytes.Equal(g.data, w.data) {
					t.Errorf("packet %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestAppendPayload(t *testing.T) {
	tests := []struct {
		name  string
		items []outItem
		want  string
	}{
		{name: "text", items: []outItem{{typ: typeMessage, data: []byte("hello")}}, want: "4hello"},
		{name: "ping and messages", items: []outItem{{typ: typePing}, {typ: typeMessage, data: []byte("a")}, {typ: typeMessage, data: []byte{1, 2, 3, 4}, binary: true}}, want: "2\x1e4a\x1ebAQIDBA=="},
		{name: "control frames skipped", items: []outItem{{ctl: opPong}, {typ: typeNoop}}, want: "6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := appendPayload(nil, tc.items)
			if string(got) != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if len(got) > payloadSize(tc.items) {
				t.Errorf("payloadSize %d < %d", payloadSize(tc.items), len(got))
			}
		})
	}
}

func TestAppendFrameHeader(t *testing.T) {
	tests := []struct {
		n    int
		want []byte
	}{
		{n: 5, want: []byte{0x81, 5}},
		{n: 125, want: []byte{0x81, 125}},
		{n: 126, want: []byte{0x81, 126, 0, 126}},
		{n: 65535, want: []byte{0x81, 126, 0xff, 0xff}},
		{n: 65536, want: []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	}
	for _, tc := range tests {
		if got := appendFrameHeader(nil, opText, tc.n); !bytes.Equal(got, tc.want) {
			t.Errorf("n=%d: got %x, want %x", tc.n, got, tc.want)
		}
	}
}

// FuzzDecodePayload checks that any polling payload decodes without
// panicking, and that what decodes re-encodes to an equivalent payload.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{"4hello", "4a\x1e4b", "bAQIDBA==", "2", "3\x1e6", "", "abc", "4\x1e\x1e", "b", "b=", "0{}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		pkts, err := decodePayload(in)
		if err != nil {
			return
		}
		items := make([]outItem, len(pkts))
		for i, p := range pkts {
			items[i] = outItem{typ: p.typ, binary: p.binary, data: p.data}
		}
		again, err := decodePayload(appendPayload(nil, items))
		if err != nil {
			t.Fatalf("re-encoded payload does not decode: %v", err)
		}
		if len(again) != len(pkts) {
			t.Fatalf("round trip: %d packets, want %d", len(again), len(pkts))
		}
		for i := range pkts {
			if again[i].typ != pkts[i].typ || again[i].binary != pkts[i].binary || !bytes.Equal(again[i].data, pkts[i].data) {
				t.Fatalf("round trip packet %d: %+v, want %+v", i, again[i], pkts[i])
			}
		}
	})
}
