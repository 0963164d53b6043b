package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestParsePublishFast(t *testing.T) {
	tests := []struct {
		name string
		body string
		ok   bool
		want publishBody
	}{
		{name: "plain", body: `{"type":"t","data":{"a":[1,"}"]}}`, ok: true, want: publishBody{Type: "t", Data: []byte(`{"a":[1,"}"]}`)}},
		{name: "spaces and order", body: " { \"data\" : 12 , \"ephemeral\" : true , \"type\" : \"x\" } \n", ok: true, want: publishBody{Type: "x", Data: []byte(`12`), Ephemeral: true}},
		{name: "string data with escapes", body: `{"type":"t","data":"a\"b\\"}`, ok: true, want: publishBody{Type: "t", Data: []byte(`"a\"b\\"`)}},
		{name: "no data", body: `{"type":"t"}`, ok: true, want: publishBody{Type: "t"}},
		{name: "empty data", body: `{"type":"t","data":}`},
		{name: "missing value", body: `{"type":"t","data":,"ephemeral":false}`},
		{name: "trailing comma", body: `{"type":"t",}`},
		{name: "unknown key", body: `{"type":"t","room":"x"}`},
		{name: "repeated key", body: `{"type":"t","type":"u"}`},
		{name: "escaped key", body: `{"typ\u0065":"t"}`},
		{name: "escaped type", body: `{"type":"\u0074"}`},
		{name: "trailing data", body: `{"type":"t"} x`},
		{name: "not an object", body: `["type"]`},
		{name: "bad ephemeral", body: `{"type":"t","ephemeral":1}`},
		{name: "unterminated", body: `{"type":"t","data":"abc`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parsePublishFast([]byte(tc.body))
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok && (got.Type != tc.want.Type || !bytes.Equal(got.Data, tc.want.Data) || got.Ephemeral != tc.want.Ephemeral) {
				t.Fatalf("got %+v (data %s), want %+v (data %s)", got, got.Data, tc.want, tc.want.Data)
			}
		})
	}
}

// FuzzParsePublish checks the fast path against encoding/json: whatever
// the fast path accepts with valid data, encoding/json accepts with the
// same fields.
func FuzzParsePublish(f *testing.F) {
	for _, s := range []string{`{"type":"t","data":{"a":1}}`, `{"data":[1,2],"type":"x","ephemeral":false}`, `{"type":"t","data":"\"}"}`, `{}`, `{"type":"t","data":tru}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := parsePublishFast(body)
		if !ok {
			return
		}
		if len(fast.Data) > 0 && !json.Valid(fast.Data) {
			return // the broker rejects it
		}
		var slow publishBody
		if err := decodeStrict(body, &slow); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json says %v", body, err)
		}
		if slow.Type != fast.Type || slow.Ephemeral != fast.Ephemeral || !bytes.Equal(bytes.TrimSpace(slow.Data), fast.Data) {
			t.Fatalf("%q: fast %+v (%s), encoding/json %+v (%s)", body, fast, fast.Data, slow, slow.Data)
		}
	})
}

// FuzzStringEnd checks stringEnd against the plain byte loop it stands
// for.
func FuzzStringEnd(f *testing.F) {
	for _, s := range []string{`abc"`, `a\"b"`, `\\"`, `\`, `abc`, `"`, `x\\\"y"z"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := -1
		i := 0
		for ; i < len(b) && b[i] != '"'; i++ {
			if b[i] == '\\' {
				i++
			}
		}
		if i < len(b) {
			want = i
		}
		if got := stringEnd(b, 0); got != want {
			t.Fatalf("stringEnd(%q) = %d, want %d", b, got, want)
		}
	})
}

func TestParseBatchFast(t *testing.T) {
	tests := []struct {
		name string
		body string
		ok   bool
		want int
	}{
		{name: "two", body: `[{"type":"a","data":1},{"type":"b","data":{"x":[1,2]}}]`, ok: true, want: 2},
		{name: "spaces", body: " [ {\"type\":\"a\"} , {\"data\":\"]\",\"type\":\"b\"} ] ", ok: true, want: 2},
		{name: "empty", body: `[]`, ok: true, want: 0},
		{name: "trailing comma", body: `[{"type":"a"},]`},
		{name: "bad element", body: `[{"type":"a","x":1}]`},
		{name: "not objects", body: `[1,2]`},
		{name: "trailing data", body: `[{"type":"a"}] x`},
		{name: "unterminated", body: `[{"type":"a"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseBatchFast([]byte(tc.body))
			if ok != tc.ok || ok && len(got) != tc.want {
				t.Fatalf("parseBatchFast = %d items, %v; want %d, %v", len(got), ok, tc.want, tc.ok)
			}
		})
	}
}

// FuzzParseBatch checks the batch fast path against encoding/json.
func FuzzParseBatch(f *testing.F) {
	for _, s := range []string{`[{"type":"a","data":1},{"type":"b"}]`, `[]`, `[{"data":"]","type":"x","ephemeral":true}]`, `[{},{}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := parseBatchFast(body)
		if !ok {
			return
		}
		for _, pb := range fast {
			if len(pb.Data) > 0 && !json.Valid(pb.Data) {
				return // the broker rejects it
			}
		}
		var slow []publishBody
		if err := decodeStrict(body, &slow); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json says %v", body, err)
		}
		if len(slow) != len(fast) {
			t.Fatalf("%q: fast %d items, encoding/json %d", body, len(fast), len(slow))
		}
		for i := range fast {
			if slow[i].Type != fast[i].Type || slow[i].Ephemeral != fast[i].Ephemeral || !bytes.Equal(bytes.TrimSpace(slow[i].Data), fast[i].Data) {
				t.Fatalf("%q item %d: fast %+v, encoding/json %+v", body, i, fast[i], slow[i])
			}
		}
	})
}
