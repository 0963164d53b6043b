package main

import (
	"io"
	"net/http/httputil"
	"strings"
	"testing"
)

func TestParseSIO(t *testing.T) {
	tests := []struct {
		name string
		in   string
		typ  byte
		nsp  string
		id   int64
		data string
		err  bool
	}{
		{name: "connect", in: `0{"sid":"a","pid":"p"}`, typ: '0', id: -1, data: `{"sid":"a","pid":"p"}`},
		{name: "event", in: `2["bench",{"t":1}]`, typ: '2', id: -1, data: `["bench",{"t":1}]`},
		{name: "event with ack id", in: `212["room:join",{}]`, typ: '2', id: 12, data: `["room:join",{}]`},
		{name: "ack", in: `37[{"ok":true}]`, typ: '3', id: 7, data: `[{"ok":true}]`},
		{name: "namespace", in: `2/admin,5["x"]`, typ: '2', nsp: "/admin", id: 5, data: `["x"]`},
		{name: "main namespace spelled out", in: `0/,{}`, typ: '0', id: -1, data: `{}`},
		{name: "binary event", in: `51-["x",{"_placeholder":true,"num":0}]`, typ: '5', id: -1, data: `["x",{"_placeholder":true,"num":0}]`},
		{name: "disconnect", in: `1`, typ: '1', id: -1},
		{name: "empty", in: ``, err: true},
		{name: "bad type", in: `9[]`, err: true},
		{name: "binary without count", in: `5["x"]`, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pk, err := parseSIO([]byte(tc.in))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if pk.typ != tc.typ || string(pk.nsp) != tc.nsp || pk.id != tc.id || string(pk.data) != tc.data {
				t.Fatalf("got %c %q %d %q", pk.typ, pk.nsp, pk.id, pk.data)
			}
		})
	}
}

func TestBenchFields(t *testing.T) {
	tests := []struct {
		name  string
		in    string // an EVENT payload
		ev    string
		t     int64
		off   uint64
		token string
		ok    bool
	}{
		{
			name: "rtbroker live",
			in:   `["bench",{"p":"xxxx","t":1700000000123456789},{"room":"r","offset":57,"id":"01K","time":"2026-01-01T00:00:00Z","from":"anonymous:1"},"57"]`,
			ev:   "bench", t: 1700000000123456789, off: 57, token: "57", ok: true,
		},
		{
			name: "rtbroker catch-up token",
			in:   `["bench",{"t":5,"p":"x"},{"room":"r","offset":3,"id":"a","time":"t","from":"f"},"c2.3"]`,
			ev:   "bench", t: 5, off: 3, token: "c2.3", ok: true,
		},
		{
			name: "node peer",
			in:   `["bench",{"t":42,"p":"xx"},{"room":"r","offset":9,"id":"9","time":"t","from":"api"},"MxT5ab-c"]`,
			ev:   "bench", t: 42, off: 9, token: "MxT5ab-c", ok: true,
		},
		{
			name: "no token",
			in:   `["bench",{"t":42},{"room":"r","offset":9}]`,
			ev:   "bench", t: 42, off: 9, ok: true,
		},
		{
			name: "no offset",
			in:   `["bench",{"t":42},{"room":"r","ephemeral":true}]`,
			ev:   "bench",
		},
		{name: "no time", in: `["bench",{"x":1},{"offset":3}]`, ev: "bench"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name, rest, ok := eventName([]byte(tc.in))
			if !ok || string(name) != tc.ev {
				t.Fatalf("eventName = %q, %v", name, ok)
			}
			ts, off, token, ok := benchFields(rest)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok && (ts != tc.t || off != tc.off || string(token) != tc.token) {
				t.Fatalf("got t=%d off=%d token=%q", ts, off, token)
			}
		})
	}
}

func TestLastStringArg(t *testing.T) {
	tests := map[string]string{
		`,"57"]`:              "57",
		`,{"a":"b"}]`:         "",
		`["only"]`:            "",
		`,{"a":"b","c":"d"}]`: "",
		`,"a\"b"]`:            "",
		`,"tok"]` + "\n":      "tok",
	}
	for in, want := range tests {
		if got := lastStringArg([]byte(in)); string(got) != want {
			t.Errorf("lastStringArg(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEachPolledEvent(t *testing.T) {
	body := `{"events":[{"offset":4,"id":"a","room":"r","type":"bench","data":{"t":100,"p":"x"},"time":"t","from":"f"},` +
		`{"offset":9,"id":"b","room":"r","type":"other","data":{"n":1},"time":"t","from":"f"}],"next":9,"epoch":"E"}` + "\n"
	var offs []uint64
	var ts []int64
	next, ok := eachPolledEvent([]byte(body), func(off uint64, t int64) { offs = append(offs, off); ts = append(ts, t) })
	if !ok || next != 9 || len(offs) != 2 || offs[0] != 4 || offs[1] != 9 || ts[0] != 100 || ts[1] != 0 {
		t.Fatalf("next %d ok %v offs %v ts %v", next, ok, offs, ts)
	}
	next, ok = eachPolledEvent([]byte(`{"events":[],"next":0,"epoch":"E"}`), func(uint64, int64) { t.Fatal("no event expected") })
	if !ok || next != 0 {
		t.Fatalf("empty page: next %d ok %v", next, ok)
	}
	if _, ok := eachPolledEvent([]byte(`{"error":{"code":"x"}}`), func(uint64, int64) {}); ok {
		t.Fatal("an error body was accepted")
	}
}

func TestStringFieldAndAck(t *testing.T) {
	b := []byte(`{"sid":"abc","pid":"0f9e"}`)
	if string(stringField(b, "pid")) != "0f9e" || string(stringField(b, "sid")) != "abc" || stringField(b, "x") != nil {
		t.Fatal("stringField")
	}
	if !ackOK([]byte(`[{"ok":true,"offset":3}]`)) || ackOK([]byte(`[{"ok":false,"error":{"code":"forbidden"}}]`)) {
		t.Fatal("ackOK")
	}
}

func TestSSEParser(t *testing.T) {
	long := strings.Repeat("y", 10_000)
	stream := "retry: 2000\n\n: ping\n\n" +
		"id: 1\nevent: bench\ndata: {\"t\":5}\n\n" +
		"id: 2\r\nevent: bench\r\ndata: a\r\ndata: b\r\n\r\n" +
		"data: " + long + "\n\n" +
		"event: reset\ndata: {}\n\n" +
		"data: partial"
	want := []string{
		"bench 1 " + `{"t":5}`,
		"bench 2 a\nb",
		"message 2 " + long,
		"reset 2 {}",
	}
	for _, size := range []int{1, 2, 5, 64, 5000, len(stream)} {
		var got []string
		var p sseParser
		for b := []byte(stream); len(b) > 0; {
			n := min(size, len(b))
			err := p.feed(b[:n], func(ev *sseEvent) error {
				got = append(got, string(ev.typ)+" "+string(ev.id)+" "+string(ev.data))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			b = b[n:]
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("pieces of %d: got %.300q", size, got)
		}
	}
}

func TestChunkDecoder(t *testing.T) {
	var sb strings.Builder
	cw := httputil.NewChunkedWriter(&sb)
	body := "id: 1\ndata: x\n\n" + strings.Repeat("z", 5000)
	io.WriteString(cw, body[:7])
	io.WriteString(cw, body[7:])
	cw.Close()
	sb.WriteString("\r\n")
	enc := sb.String()
	for _, size := range []int{1, 3, 100, len(enc)} {
		var d chunkDecoder
		var out []byte
		var err error
		for b := []byte(enc); len(b) > 0 && err == nil; {
			n := min(size, len(b))
			err = d.feed(b[:n], func(p []byte) error { out = append(out, p...); return nil })
			b = b[n:]
		}
		if err != io.EOF || string(out) != body {
			t.Fatalf("pieces of %d: %v, %d bytes", size, err, len(out))
		}
	}
	var d chunkDecoder
	if err := d.feed([]byte("zz\r\n"), func([]byte) error { return nil }); err == nil {
		t.Fatal("a malformed chunk size was accepted")
	}
}

func FuzzWire(f *testing.F) {
	f.Add([]byte(`2["bench",{"t":1,"p":"x"},{"room":"r","offset":57},"57"]`))
	f.Add([]byte(`{"events":[{"offset":4,"data":{"t":100}}],"next":9}`))
	f.Add([]byte(`51-/a,3["x"]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if pk, err := parseSIO(b); err == nil {
			if name, rest, ok := eventName(pk.data); ok {
				_ = name
				benchFields(rest)
			}
			ackOK(pk.data)
		}
		eachPolledEvent(b, func(uint64, int64) {})
		stringField(b, "pid")
		lastStringArg(b)
		parseHex(b)
	})
}

func FuzzSSE(f *testing.F) {
	f.Add([]byte("id: 1\nevent: bench\ndata: {}\n\n"))
	f.Add([]byte("data\r\n\r\n:\n\nid\x00: 2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p sseParser
		p.feed(b, func(*sseEvent) error { return nil })
		var d chunkDecoder
		d.feed(b, func([]byte) error { return nil })
	})
}
