package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecodePacket(t *testing.T) {
	tests := []struct {
		name   string
		in     []string // text packet, then binary attachments
		want   Packet
		nArgs  int
		errSub string
	}{
		{name: "connect main", in: []string{"0"}, want: Packet{Type: PacketConnect, Namespace: "/"}},
		{name: "connect with auth", in: []string{`0{"token":"123"}`}, want: Packet{Type: PacketConnect, Namespace: "/", Data: json.RawMessage(`{"token":"123"}`)}},
		{name: "connect custom", in: []string{"0/admin,"}, want: Packet{Type: PacketConnect, Namespace: "/admin"}},
		{name: "connect custom no comma", in: []string{"0/random"}, want: Packet{Type: PacketConnect, Namespace: "/random"}},
		{name: "connect custom with auth", in: []string{`0/admin,{"a":1}`}, want: Packet{Type: PacketConnect, Namespace: "/admin", Data: json.RawMessage(`{"a":1}`)}},
		{name: "disconnect", in: []string{"1/admin,"}, want: Packet{Type: PacketDisconnect, Namespace: "/admin"}},
		{name: "event", in: []string{`2["hello",1]`}, want: Packet{Type: PacketEvent, Namespace: "/", Data: json.RawMessage(`["hello",1]`)}, nArgs: 2},
		{name: "event numeric name", in: []string{`2[42,"x"]`}, want: Packet{Type: PacketEvent, Namespace: "/", Data: json.RawMessage(`[42,"x"]`)}, nArgs: 2},
		{name: "event with ack id", in: []string{`2/admin,456["project:delete",123]`}, want: Packet{Type: PacketEvent, Namespace: "/admin", ID: 456, HasID: true, Data: json.RawMessage(`["project:delete",123]`)}, nArgs: 2},
		{name: "ack", in: []string{`3/admin,456[]`}, want: Packet{Type: PacketAck, Namespace: "/admin", ID: 456, HasID: true, Data: json.RawMessage(`[]`)}},
		{name: "connect error object", in: []string{`4{"message":"Not authorized"}`}, want: Packet{Type: PacketConnectError, Namespace: "/", Data: json.RawMessage(`{"message":"Not authorized"}`)}},
		{name: "connect error string", in: []string{`4"nope"`}, want: Packet{Type: PacketConnectError, Namespace: "/", Data: json.RawMessage(`"nope"`)}},
		{name: "binary event", in: []string{`51-["hello",{"_placeholder":true,"num":0}]`, "\x01\x02"}, want: Packet{Type: PacketBinaryEvent, Namespace: "/", Data: json.RawMessage(`["hello",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{1, 2}}}, nArgs: 2},
		{name: "binary event nested placeholder", in: []string{`52-/x,7["a",{"f":[{"_placeholder":true,"num":1}]},{"_placeholder":true,"num":0}]`, "a", "b"}, want: Packet{Type: PacketBinaryEvent, Namespace: "/x", ID: 7, HasID: true, Data: json.RawMessage(`["a",{"f":[{"_placeholder":true,"num":1}]},{"_placeholder":true,"num":0}]`), Attachments: [][]byte{[]byte("a"), []byte("b")}}, nArgs: 3},
		{name: "binary ack", in: []string{`61-/admin,456[{"_placeholder":true,"num":0}]`, "\x03"}, want: Packet{Type: PacketBinaryAck, Namespace: "/admin", ID: 456, HasID: true, Data: json.RawMessage(`[{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{3}}}, nArgs: 1},
		{name: "binary with zero attachments", in: []string{`50-["a"]`}, want: Packet{Type: PacketBinaryEvent, Namespace: "/", Data: json.RawMessage(`["a"]`)}, nArgs: 1},

		{name: "empty", in: []string{""}, errSub: "unknown packet type"},
		{name: "unknown type", in: []string{"abc"}, errSub: "unknown packet type"},
		{name: "type 7", in: []string{"7"}, errSub: "unknown packet type"},
		{name: "event payload object", in: []string{"2{}"}, errSub: "array"},
		{name: "event without payload", in: []string{"2"}, errSub: "array"},
		{name: "invalid ack id", in: []string{`2abc["message-with-ack",1]`}, errSub: "JSON"},
		{name: "huge ack id", in: []string{`2123456789012345678901234567890["a"]`}, errSub: "ack id"},
		{name: "malformed JSON", in: []string{`2["a",`}, errSub: "JSON"},
		{name: "trailing garbage", in: []string{`2["a"]x`}, errSub: "JSON"},
		{name: "reserved event", in: []string{`2["disconnect"]`}, errSub: "event name"},
		{name: "event name object", in: []string{`2[{}]`}, errSub: "event name"},
		{name: "empty event array", in: []string{`2[]`}, errSub: "without a name"},
		{name: "connect with array", in: []string{`0[]`}, errSub: "object"},
		{name: "disconnect with payload", in: []string{`1{}`}, errSub: "no payload"},
		{name: "connect error number", in: []string{`41`}, errSub: "object or a string"},
		{name: "ack payload object", in: []string{`31{}`}, errSub: "array"},
		{name: "binary without dash", in: []string{`52["a"]`}, errSub: "illegal attachments"},
		{name: "binary without count", in: []string{`5-["a"]`}, errSub: "illegal attachments"},
		{name: "too many attachments", in: []string{`511-["a"]`}, errSub: "too many"},
		{name: "placeholder out of range", in: []string{`51-["a",{"_placeholder":true,"num":1}]`}, errSub: "illegal attachments"},
		{name: "placeholder negative", in: []string{`51-["a",{"_placeholder":true,"num":-1}]`}, errSub: "illegal attachments"},
		{name: "placeholder fraction", in: []string{`51-["a",{"_placeholder":true,"num":0.5}]`}, errSub: "illegal attachments"},
		{name: "binary data unexpected", in: []string{`2["a"]`, "x"}, errSub: "unexpected binary"},
		{name: "text while reconstructing", in: []string{`51-["a",{"_placeholder":true,"num":0}]`, "\x00text"}, errSub: "text data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Decoder{}
			var got *Packet
			var err error
			for i, m := range tc.in {
				binary := i > 0
				if strings.HasPrefix(m, "\x00") { // marks a text message in the attachment position
					m, binary = m[1:], false
				}
				got, err = d.Decode([]byte(m), binary)
				if err != nil {
					break
				}
				if got != nil && i < len(tc.in)-1 && !binary {
					// a complete packet followed by more input: feed the rest
					continue
				}
			}
			if tc.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSub) || !errors.Is(err, ErrInvalidPacket) {
					t.Fatalf("err = %v, want one containing %q", err, tc.errSub)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if got == nil {
				t.Fatal("no packet")
			}
			w := tc.want
			if got.Type != w.Type || got.Namespace != w.Namespace || got.ID != w.ID || got.HasID != w.HasID || string(got.Data) != string(w.Data) {
				t.Errorf("got %+v, want %+v", got, w)
			}
			if len(got.Attachments) != len(w.Attachments) {
				t.Fatalf("attachments %q, want %q", got.Attachments, w.Attachments)
			}
			for i := range w.Attachments {
				if string(got.Attachments[i]) != string(w.Attachments[i]) {
					t.Errorf("attachment %d = %q", i, got.Attachments[i])
				}
			}
			if len(got.Args) != tc.nArgs {
				t.Errorf("args %q, want %d", got.Args, tc.nArgs)
			}
		})
	}
}

func TestSplitArray(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{in: `[]`, want: nil},
		{in: ` [ ] `, want: nil},
		{in: `["a"]`, want: []string{`"a"`}},
		{in: `[ "a" , 1 ,{"b":[1,2]} , [3,"]"], "x\"],y" , null ]`, want: []string{`"a"`, `1`, `{"b":[1,2]}`, `[3,"]"]`, `"x\"],y"`, `null`}},
	}
	for _, tc := range tests {
		got := splitArray([]byte(tc.in), nil)
		if len(got) != len(tc.want) {
			t.Fatalf("%s: got %q, want %q", tc.in, got, tc.want)
		}
		for i := range got {
			if string(got[i]) != tc.want[i] {
				t.Errorf("%s: element %d = %q, want %q", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

func TestEncode(t *testing.T) {
	type obj struct {
		A string `json:"a"`
	}
	tests := []struct {
		name     string
		encode   func() ([]byte, [][]byte, error)
		want     string
		wantAtts int
	}{
		{name: "event main", encode: func() ([]byte, [][]byte, error) {
			return appendEvent(nil, "/", false, 0, "hello", []any{1, "two", true, nil})
		}, want: `2["hello",1,"two",true,null]`},
		{name: "event namespace ack", encode: func() ([]byte, [][]byte, error) {
			return appendEvent(nil, "/admin", true, 12, "x", []any{obj{A: "<b>"}})
		}, want: `2/admin,12["x",{"a":"<b>"}]`},
		{name: "raw args", encode: func() ([]byte, [][]byte, error) {
			return appendEvent(nil, "/", false, 0, "m", []any{json.RawMessage(`{"3":[true]}`)})
		}, want: `2["m",{"3":[true]}]`},
		{name: "binary event", encode: func() ([]byte, [][]byte, error) {
			return appendEvent(nil, "/", false, 0, "m", []any{[]byte{1}, "s", []byte{2}})
		}, want: `52-["m",{"_placeholder":true,"num":0},"s",{"_placeholder":true,"num":1}]`, wantAtts: 2},
		{name: "ack", encode: func() ([]byte, [][]byte, error) {
			return appendAck(nil, "/", 456, []any{1, "2"})
		}, want: `3456[1,"2"]`},
		{name: "binary ack", encode: func() ([]byte, [][]byte, error) {
			return appendAck(nil, "/c", 789, []any{[]byte{1}})
		}, want: `61-/c,789[{"_placeholder":true,"num":0}]`, wantAtts: 1},
		{name: "string escapes", encode: func() ([]byte, [][]byte, error) {
			return appendEvent(nil, "/", false, 0, "q\"\\\n\x01\u2028é\xff", nil)
		}, want: `2["q\"\\\n\u0001\u2028é\ufffd"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, atts, err := tc.encode()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want || len(atts) != tc.wantAtts {
				t.Errorf("got %s (%d attachments), want %s (%d)", got, len(atts), tc.want, tc.wantAtts)
			}
			// Everything encoded decodes.
			var d Decoder
			p, err := d.Decode(got, false)
			for i := 0; err == nil && i < len(atts); i++ {
				p, err = d.Decode(atts[i], true)
			}
			if err != nil || p == nil {
				t.Errorf("re-decode: %v %v", p, err)
			}
		})
	}
	t.Run("EncodeEvent with binary", func(t *testing.T) {
		pkt, err := EncodeEvent("/", "x", []byte{1, 0, 2}, "s", []byte{})
		if err != nil || !IsFrames(pkt) {
			t.Fatalf("%q %v", pkt, err)
		}
		msgs := AppendFrames(nil, pkt)
		var d Decoder
		var p *Packet
		for i, m := range msgs {
			if m.Binary != (i > 0) {
				t.Fatalf("message %d binary %v", i, m.Binary)
			}
			if p, err = d.Decode(m.Data, m.Binary); err != nil {
				t.Fatal(err)
			}
		}
		if p == nil || string(p.Data) != `["x",{"_placeholder":true,"num":0},"s",{"_placeholder":true,"num":1}]` ||
			len(p.Attachments) != 2 || string(p.Attachments[0]) != "\x01\x00\x02" || len(p.Attachments[1]) != 0 {
			t.Fatalf("decoded %+v", p)
		}
	})
	t.Run("unencodable", func(t *testing.T) {
		if _, _, err := appendEvent(nil, "/", false, 0, "x", []any{func() {}}); err == nil {
			t.Error("no error")
		}
	})
	t.Run("AppendPacket", func(t *testing.T) {
		p := &Packet{Type: PacketBinaryEvent, Namespace: "/n", ID: 3, HasID: true, Data: json.RawMessage(`["a",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{1}}}
		if got := string(AppendPacket(nil, p)); got != `51-/n,3["a",{"_placeholder":true,"num":0}]` {
			t.Errorf("got %s", got)
		}
	})
}

// FuzzDecodePacket feeds arbitrary text packets (and attachments) to the
// decoder: it must never panic, errors must wrap ErrInvalidPacket, and a
// decoded packet must re-encode to a packet that decodes the same.
func FuzzDecodePacket(f *testing.F) {
	for _, s := range []string{
		"0", `0{"token":"123"}`, "0/admin,", "1/admin,", `2["hello",1]`, `2/admin,456["project:delete",123]`,
		`3/admin,456[]`, `4{"message":"x"}`, `51-["hello",{"_placeholder":true,"num":0}]`,
		`61-/admin,456[{"_placeholder":true,"num":0}]`, "2{}", `2abc["a"]`, `52-["a",{"_placeholder":true,"num":"0"}]`,
		`2["a",{"_placeholder":true,"num":1e400}]`, `5999999999-[]`, "0/", "2/a", `2["\ud800"]`,
	} {
		f.Add([]byte(s), []byte{1, 2}, uint8(1))
	}
	f.Fuzz(func(t *testing.T, text, att []byte, n uint8) {
		d := Decoder{MaxAttachments: 4}
		p, err := d.Decode(text, false)
		for i := 0; err == nil && p == nil && i < int(n%6); i++ {
			p, err = d.Decode(att, true)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("error %v does not wrap ErrInvalidPacket", err)
			}
			return
		}
		if p == nil {
			return
		}
		enc := AppendPacket(nil, p)
		var d2 Decoder
		d2.MaxAttachments = 4
		q, err := d2.Decode(enc, false)
		for i := 0; err == nil && q == nil && i < len(p.Attachments); i++ {
			q, err = d2.Decode(p.Attachments[i], true)
		}
		if err != nil || q == nil {
			t.Fatalf("re-encoded %q: %v", enc, err)
		}
		if q.Type != p.Type || q.Namespace != p.Namespace || q.ID != p.ID || q.HasID != p.HasID || len(q.Args) != len(p.Args) {
			t.Fatalf("round trip %+v != %+v", q, p)
		}
	})
}

func BenchmarkDecodeEvent(b *testing.B) {
	msg := []byte(`2/chat,12["chat:message",{"room":"lobby","text":"hello, everyone in the room","n":12345},"1234"]`)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		var d Decoder
		if _, err := d.Decode(msg, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeEvent(b *testing.B) {
	data := json.RawMessage(`{"room":"lobby","text":"hello, everyone in the room","n":12345}`)
	meta := json.RawMessage(`{"room":"lobby","offset":1234,"id":"01J0000000000000000000000","time":"2026-01-01T00:00:00Z","from":"alice"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeEvent("/", "chat:message", data, meta, "1234"); err != nil {
			b.Fatal(err)
		}
	}
}
