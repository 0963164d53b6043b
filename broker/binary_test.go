package broker_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
)

func TestFindBinary(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    []string // the base64 of each value found
		wantErr bool
	}{
		{name: "none", data: `{"text":"hi"}`},
		{name: "top level", data: `{"$binary":"AQID"}`, want: []string{"AQID"}},
		{name: "nested", data: `{"a":{"b":[1,{"$binary":"AA=="},{"c":{"$binary":""}}]},"d":{"$binary":"AAE="}}`, want: []string{"AA==", "", "AAE="}},
		{name: "with white space", data: `[ { "$binary" : "AQID" } ]`, want: []string{"AQID"}},
		{name: "escaped key", data: `{"x":{"\u0024binary":"AQID"}}`, want: []string{"AQID"}},
		{name: "escaped slash in the base64", data: `{"x":{"$binary":"a\/8="}}`, want: []string{"a/8="}},
		{name: "other members: plain JSON", data: `{"x":{"$binary":"AQID","y":1}}`},
		{name: "member after: plain JSON", data: `{"x":{"y":1,"$binary":"AQID"}}`},
		{name: "not a string: plain JSON", data: `{"x":{"$binary":5}}`},
		{name: "object value: scanned inside", data: `{"x":{"$binary":{"$binary":"AQID"}}}`, want: []string{"AQID"}},
		{name: "in a string: plain text", data: `{"x":"{\"$binary\":\"!!\"}"}`},
		{name: "bad alphabet", data: `{"x":{"$binary":"AQ!D"}}`, wantErr: true},
		{name: "no padding", data: `{"x":{"$binary":"AQ"}}`, wantErr: true},
		{name: "url alphabet", data: `{"x":{"$binary":"-_-_"}}`, wantErr: true},
		{name: "line break", data: `{"x":{"$binary":"AQID\nAQID"}}`, wantErr: true},
		{name: "padding inside", data: `{"x":{"$binary":"A=ID"}}`, wantErr: true},
		{name: "three pads", data: `{"x":{"$binary":"A==="}}`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			refs, err := broker.FindBinary(nil, []byte(tc.data))
			if tc.wantErr {
				if !errors.Is(err, broker.ErrInvalid) || !strings.Contains(err.Error(), "$binary") {
					t.Fatalf("err %v, want ErrInvalid naming $binary", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range refs {
				got = append(got, string(r.Base64))
				b, _ := base64.StdEncoding.DecodeString(string(r.Base64))
				if r.Len != len(b) {
					t.Errorf("Len %d, want %d", r.Len, len(b))
				}
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Fatalf("found %q, want %q", got, tc.want)
			}
			if (len(tc.want) > 0) != broker.HasBinary([]byte(tc.data)) && !strings.Contains(tc.data, `\u0024`) {
				t.Errorf("HasBinary disagrees")
			}
		})
	}
}

// TestBinaryDataSize checks MaxDataSize with bytes: counted decoded, the
// limit itself passes, one byte over is ErrTooLarge; bad base64 is
// ErrInvalid; escaped member names are stored without escapes.
func TestBinaryDataSize(t *testing.T) {
	const max = 1000
	br, _ := newBroker(t, broker.Config{MaxDataSize: max})
	wrap := func(n int) []byte {
		return []byte(`{"bin":{"$binary":"` + base64.StdEncoding.EncodeToString(make([]byte, n)) + `"}}`)
	}
	overhead := len(`{"bin":{"$binary":""}}`)
	pub := func(data []byte) (*broker.Event, error) {
		return br.PublishEphemeral(broker.Message{Room: "r", Type: "t", Data: data})
	}
	if ev, err := pub(wrap(max - overhead)); err != nil || !ev.Binary() {
		t.Fatalf("data exactly at the limit: %v", err)
	}
	if _, err := pub(wrap(max - overhead + 1)); !errors.Is(err, broker.ErrTooLarge) {
		t.Fatalf("one byte over: %v, want ErrTooLarge", err)
	}
	if _, err := pub([]byte(`{"bin":{"$binary":"***="}}`)); !errors.Is(err, broker.ErrInvalid) || !strings.Contains(err.Error(), "$binary") {
		t.Fatalf("bad base64: %v", err)
	}
	// Plain JSON without bytes is measured as before, white space included.
	if _, err := pub([]byte(`{"t":"` + strings.Repeat(`\n`, max/2) + `"}`)); !errors.Is(err, broker.ErrTooLarge) {
		t.Fatalf("escaped text over the limit: %v", err)
	}
	ev, err := pub([]byte(`{"a": {"\u0024binary": "a\/8="}}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(ev.Data) != `{"a":{"$binary":"a/8="}}` || !ev.Binary() {
		t.Fatalf("stored %s, want the member name without escapes", ev.Data)
	}
}

// FuzzFindBinary checks on any JSON that each value found is a $binary
// object alone, with valid base64 of the length reported.
func FuzzFindBinary(f *testing.F) {
	for _, s := range []string{`{"$binary":"AQID"}`, `[{"$binary":""},{"$binary":"AA==","x":1}]`, `{"a":{"\u0024binary":"a\/8="}}`, `"$binary"`, `{"$binary":{"$binary":"AA=="}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		refs, err := broker.FindBinary(nil, data)
		if err != nil {
			if !errors.Is(err, broker.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		for _, r := range refs {
			var obj map[string]string
			if err := json.Unmarshal(data[r.Start:r.End], &obj); err != nil || len(obj) != 1 {
				t.Fatalf("%q is not a $binary object: %v", data[r.Start:r.End], err)
			}
			b, err := base64.StdEncoding.DecodeString(obj["$binary"])
			if err != nil || len(b) != r.Len || obj["$binary"] != string(r.Base64) {
				t.Fatalf("%q: base64 %q len %d: %v", data[r.Start:r.End], r.Base64, r.Len, err)
			}
		}
	})
}
