package broker_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rtbroker/rtbroker/broker"
)

func TestParseOffset(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"42", 42, true},
		{"007", 7, true},
		{"18446744073709551615", 18446744073709551615, true},
		{"18446744073709551616", 0, false},
		{"", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{" 1", 0, false},
		{"1.0", 0, false},
		{"0x10", 0, false},
		{"１", 0, false},
		{"123456789012345678901", 0, false},
	}
	for _, tc := range tests {
		t.Run(strconv.Quote(tc.in), func(t *testing.T) {
			got, err := broker.ParseOffset(tc.in)
			if tc.ok != (err == nil) || got != tc.want {
				t.Fatalf("ParseOffset(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
			if err != nil && !errors.Is(err, broker.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func FuzzParseOffset(f *testing.F) {
	for _, s := range []string{"0", "1", "18446744073709551615", "18446744073709551616", "-1", "", "abc", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := broker.ParseOffset(s)
		if err != nil {
			if !errors.Is(err, broker.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		// Accepted input is exactly a decimal uint64 (leading zeros allowed).
		want, perr := strconv.ParseUint(s, 10, 64)
		if perr != nil || want != n || s[0] == '+' {
			t.Fatalf("ParseOffset(%q) = %d, strconv says %d, %v", s, n, want, perr)
		}
	})
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\\n\t<>&", "\xff\xfe", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := broker.AppendJSONString(nil, s)
		var got string
		if err := jsonUnmarshal(b, &got); err != nil {
			t.Fatalf("AppendJSONString(%q) = %s: invalid JSON: %v", s, b, err)
		}
		if utf8.ValidString(s) && !strings.ContainsAny(s, "\u2028\u2029") && got != s {
			t.Fatalf("round trip %q -> %s -> %q", s, b, got)
		}
	})
}
