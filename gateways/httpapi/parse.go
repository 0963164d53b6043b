package httpapi

import "bytes"

// parsePublishFast parses the common shape of a publish body,
// {"type":"…","data":…,"ephemeral":bool} with plain keys in any order, in
// one light pass. It does not validate data (the broker does, once); it
// reports ok=false for anything unusual (escapes in keys or type, unknown
// or repeated keys, a malformed object), and the caller then decodes with
// encoding/json, which gives the precise error.
func parsePublishFast(b []byte) (pb publishBody, ok bool) {
	pb, end, ok := parseObject(b, skipSpace(b, 0))
	return pb, ok && skipSpace(b, end) == len(b)
}

// parseBatchFast parses a JSON array of publish objects the way
// parsePublishFast parses one.
func parseBatchFast(b []byte) ([]publishBody, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, false
	}
	var out []publishBody
	for i = skipSpace(b, i+1); i < len(b) && b[i] != ']'; {
		pb, end, ok := parseObject(b, i)
		if !ok {
			return nil, false
		}
		out = append(out, pb)
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			if i = skipSpace(b, i+1); i < len(b) && b[i] == ']' {
				return nil, false // trailing comma
			}
		} else if i >= len(b) || b[i] != ']' {
			return nil, false
		}
	}
	if i >= len(b) || skipSpace(b, i+1) != len(b) {
		return nil, false
	}
	return out, true
}

// parseObject parses one publish object starting at b[i] and returns the
// index just after it.
func parseObject(b []byte, i int) (pb publishBody, end int, ok bool) {
	if i >= len(b) || b[i] != '{' {
		return pb, 0, false
	}
	i = skipSpace(b, i+1)
	var seen [3]bool
	for i < len(b) && b[i] != '}' {
		key, j, ok := plainString(b, i)
		if !ok {
			return pb, 0, false
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return pb, 0, false
		}
		i = skipSpace(b, i+1)
		var k int
		switch key {
		case "type":
			k = 0
			var typ string
			if typ, j, ok = plainString(b, i); !ok {
				return pb, 0, false
			}
			pb.Type = typ
		case "data":
			k = 1
			if j = skipValue(b, i); j <= i {
				return pb, 0, false
			}
			pb.Data = b[i:j]
		case "ephemeral":
			k = 2
			switch {
			case hasPrefixAt(b, i, "true"):
				pb.Ephemeral, j = true, i+4
			case hasPrefixAt(b, i, "false"):
				pb.Ephemeral, j = false, i+5
			default:
				return pb, 0, false
			}
		default:
			return pb, 0, false
		}
		if seen[k] {
			return pb, 0, false
		}
		seen[k] = true
		i = skipSpace(b, j)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == '}' {
				return pb, 0, false // trailing comma
			}
		} else if i >= len(b) || b[i] != '}' {
			return pb, 0, false
		}
	}
	if i >= len(b) {
		return pb, 0, false
	}
	return pb, i + 1, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func hasPrefixAt(b []byte, i int, s string) bool {
	return len(b)-i >= len(s) && string(b[i:i+len(s)]) == s
}

// plainString reads a JSON string at b[i] of printable ASCII without
// escapes, returning its contents and the index after it.
func plainString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return string(b[i+1 : j]), j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", 0, false
		}
	}
	return "", 0, false
}

// stringEnd returns the index of the quote that ends the JSON string
// whose contents start at b[i] (an escaped character is skipped, not
// checked), or -1. It finds quotes and backslashes with bytes.IndexByte:
// a publish's data is mostly long strings.
func stringEnd(b []byte, i int) int {
	for i < len(b) {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return -1
		}
		e := bytes.IndexByte(b[i:i+q], '\\')
		if e < 0 {
			return i + q
		}
		i += e + 2 // past the backslash and the character it escapes
	}
	return -1
}

// skipValue returns the index just after the JSON value starting at b[i],
// or -1. It follows strings and nesting but does not validate.
func skipValue(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			if i = stringEnd(b, i+1); i < 0 {
				return -1
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return -1
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
		if depth == 0 && i+1 < len(b) && (b[i+1] == ',' || b[i+1] == '}' || b[i+1] == ' ' || b[i+1] == '\t' || b[i+1] == '\n' || b[i+1] == '\r') {
			return i + 1
		}
	}
	return -1
}
