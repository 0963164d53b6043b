package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Bytes in event data. Event data is JSON; bytes (a Socket.IO binary
// attachment, a file chunk) are written in it as an object with exactly
// one member, "$binary", whose value is a string: the bytes in standard
// base64 with padding (RFC 4648 §4):
//
//	{"name":"a.png","chunk":{"$binary":"iVBORw0KGgo="}}
//
// Such an object is bytes wherever it sits in the data (nested in objects
// and arrays), on every interface: the Socket.IO gateway sends it as a
// binary attachment, the HTTP interfaces show it as is. Its string must
// be valid base64, or the publish is refused (ErrInvalid). An object with
// "$binary" and other members, or whose "$binary" is not a string, is
// plain JSON with no special meaning. The broker stores the data as that
// JSON, with the member name written without escapes.
//
// Config.MaxDataSize counts each of these values at its decoded length:
// the data's size is its compact JSON's length with each base64 string
// replaced by the bytes it stands for.

// BinaryKey is the member name of the JSON form of bytes.
const BinaryKey = "$binary"

// binaryMarker is what Event.Binary looks for: the member name as the
// broker stores it.
var binaryMarker = []byte(`"` + BinaryKey + `"`)

// Binary is one bytes value of event data (see BinaryKey).
type Binary struct {
	// Start and End delimit the value's JSON object in the data:
	// data[Start:End] is {"$binary":"…"}.
	Start, End int
	// Base64 is the base64 text. It aliases the data unless the JSON
	// string had escapes.
	Base64 []byte
	// Len is the number of bytes it stands for.
	Len int
}

// Binary reports whether the event's data holds bytes (see BinaryKey).
// It is cheap for events without: a search of the data for the byte '$',
// and a scan only when the member name is found.
func (e *Event) Binary() bool { return HasBinary(e.Data) }

// HasBinary reports whether data, valid JSON as the broker stores it,
// holds bytes (see BinaryKey): a search for the member name (hasMarker),
// confirmed by a scan up to the first $binary object only when it is
// found. (It does not check the base64: FindBinary does.)
func HasBinary(data []byte) bool {
	if !hasMarker(data) {
		return false
	}
	for i := 0; i < len(data); {
		switch data[i] {
		case '"':
			i = stringEnd(data, i)
		case '{':
			if _, ok := binaryAt(data, i); ok {
				return true
			}
			i++
		default:
			i++
		}
	}
	return false
}

// hasMarker reports whether data contains "$binary" (with its quotes).
// It looks for the '$' first: a rare byte in JSON, found with one
// vectorised IndexByte, where a search for the whole string would stop at
// every quote.
func hasMarker(data []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(data[i:], '$')
		if j < 0 {
			return false
		}
		i += j
		if i > 0 && data[i-1] == '"' && bytes.HasPrefix(data[i:], binaryMarker[1:]) {
			return true
		}
		i++
	}
}

// FindBinary appends the bytes values of data (valid JSON) to dst, in the
// order they appear, and returns it. A $binary object whose string is not
// valid base64 is an error wrapping ErrInvalid (with the values found
// before it). It allocates only for strings with escapes.
func FindBinary(dst []Binary, data []byte) ([]Binary, error) {
	for i := 0; i < len(data); {
		switch data[i] {
		case '"':
			i = stringEnd(data, i)
		case '{':
			b, ok := binaryAt(data, i)
			if !ok {
				i++
				continue
			}
			n, valid := base64Len(b.Base64)
			if !valid {
				return dst, invalid("data", "the %s string at byte %d is not valid base64 (standard alphabet, with padding)", BinaryKey, i)
			}
			b.Len = n
			dst = append(dst, b)
			i = b.End
		default:
			i++
		}
	}
	return dst, nil
}

// binaryAt reports whether the object starting at data[i] is a $binary
// object: {"$binary": "…"} (white space allowed).
func binaryAt(data []byte, i int) (Binary, bool) {
	j := skipSpace(data, i+1)
	if j >= len(data) || data[j] != '"' {
		return Binary{}, false
	}
	k := stringEnd(data, j)
	if !isBinaryKey(data[j:k]) {
		return Binary{}, false
	}
	j = skipSpace(data, k)
	if j >= len(data) || data[j] != ':' {
		return Binary{}, false
	}
	j = skipSpace(data, j+1)
	if j >= len(data) || data[j] != '"' {
		return Binary{}, false
	}
	k = stringEnd(data, j)
	str := data[j:k]
	j = skipSpace(data, k)
	if j >= len(data) || data[j] != '}' {
		return Binary{}, false
	}
	b64 := str[1 : len(str)-1]
	if bytes.IndexByte(b64, '\\') >= 0 {
		var s string
		if json.Unmarshal(str, &s) != nil {
			return Binary{}, false
		}
		b64 = []byte(s)
	}
	return Binary{Start: i, End: j + 1, Base64: b64}, true
}

// isBinaryKey reports whether the JSON string lit (with its quotes) is
// "$binary", with or without escapes.
func isBinaryKey(lit []byte) bool {
	if bytes.Equal(lit, binaryMarker) {
		return true
	}
	if len(lit) > 64 || bytes.IndexByte(lit, '\\') < 0 {
		return false
	}
	var s string
	return json.Unmarshal(lit, &s) == nil && s == BinaryKey
}

// stringEnd returns the index after the JSON string starting at data[i].
func stringEnd(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(data)
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// base64Len returns the decoded length of s, standard base64 with
// padding, and whether s is valid: a multiple of 4 characters of the
// standard alphabet, with at most two '=' at the end.
func base64Len(s []byte) (int, bool) {
	if len(s)%4 != 0 {
		return 0, false
	}
	pad := 0
	if len(s) > 0 && s[len(s)-1] == '=' {
		pad++
		if s[len(s)-2] == '=' {
			pad++
		}
	}
	for _, c := range s[:len(s)-pad] {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return 0, false
		}
	}
	return len(s)/4*3 - pad, true
}

// mayHaveBinary reports whether data may hold bytes: the member name as
// stored, or an escape (it may be written with escapes).
func mayHaveBinary(data []byte) bool {
	return bytes.IndexByte(data, '\\') >= 0 || hasMarker(data)
}

// checkBinary checks the bytes values of data (compact, valid JSON;
// rawLen long as published) against max, the limit of the data's size
// with each value counted at its decoded length (see BinaryKey), and
// returns the data with each value written in the stored form
// ({"$binary":"…"} without escapes). Data without bytes is measured as
// published, white space included, as it always was.
func checkBinary(data []byte, rawLen, max int) (json.RawMessage, error) {
	refs, err := FindBinary(nil, data)
	if err != nil {
		return nil, err
	}
	size := len(data)
	if len(refs) == 0 {
		size = rawLen
	}
	canonical := true
	for _, r := range refs {
		size += r.Len - len(r.Base64)
		if r.End-r.Start != len(`{"$binary":""}`)+len(r.Base64) {
			canonical = false // written with escapes
		}
	}
	if size > max {
		return nil, &ValidationError{Field: "data", Reason: fmt.Sprintf("larger than %d bytes (bytes counted decoded: %d)", max, size), kind: ErrTooLarge}
	}
	if canonical {
		return data, nil
	}
	out := make([]byte, 0, len(data))
	last := 0
	for _, r := range refs {
		out = append(out, data[last:r.Start]...)
		out = append(out, `{"$binary":"`...)
		out = append(out, r.Base64...)
		out = append(out, `"}`...)
		last = r.End
	}
	return append(out, data[last:]...), nil
}
