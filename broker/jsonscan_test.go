package broker

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// scanJSONCases are inputs on which scanJSON must agree with json.Valid
// (and, for spaced, with whether json.Compact changes the input).
var scanJSONCases = []string{
	``, ` `, `null`, `true`, `false`, `nul`, `nulls`, `tru`, `falsey`,
	`0`, `-0`, `01`, `-`, `1.`, `1.5`, `.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `-1.25e10`, `2.`, `00`, `-01`,
	`""`, `"a"`, `"\""`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u00e9"`, `"\u00G9"`, `"\u12"`, `"\x"`, "\"a\tb\"", "\"\x01\"",
	"\"\xff\xfe\"", `"héllo ✓"`, `"unterminated`, `"a\`,
	`{}`, `{ }`, `{"a":1}`, `{"a" : 1 , "b" : [1, 2]}`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`, `{1:2}`, `{"a":1 "b":2}`, `{"a":1`,
	`[]`, `[ ]`, `[1,2,3]`, `[1,]`, `[,1]`, `[1 2]`, `[`, `]`, `[[[]]]`, `[{"a":[{"b":null}]}]`,
	` {"type":"x"} `, "\n[1]\r\n", `{"a":"b c"}`, `{"a":"b"} x`, `1 2`, `[1]]`, `{}}`,
	strings.Repeat("[", 64) + strings.Repeat("]", 64),
	strings.Repeat("[", 65) + strings.Repeat("]", 65),
	strings.Repeat("[", 100) + "1" + strings.Repeat("]", 99),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70),
}

func checkScanJSON(t *testing.T, in []byte) {
	valid, spaced := scanJSON(in)
	if want := json.Valid(in); valid != want {
		t.Fatalf("scanJSON(%.80q) valid = %v, json.Valid = %v", in, valid, want)
	}
	if !valid {
		return
	}
	var c bytes.Buffer
	if err := json.Compact(&c, in); err != nil {
		t.Fatal(err)
	}
	if changed := !bytes.Equal(c.Bytes(), in); changed && !spaced {
		t.Fatalf("scanJSON(%.80q) says no white space outside strings, but Compact changes it", in)
	}
}

func TestScanJSONAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range scanJSONCases {
		checkScanJSON(t, []byte(in))
	}
}

func FuzzScanJSON(f *testing.F) {
	for _, in := range scanJSONCases {
		f.Add([]byte(in))
	}
	f.Fuzz(checkScanJSON)
}

func BenchmarkScanJSON(b *testing.B) {
	data := []byte(`{"n":1,"pad":"` + strings.Repeat("x", 960) + `"}`)
	b.Run("scanJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			scanJSON(data)
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Valid(data)
		}
	})
}
