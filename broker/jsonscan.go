package broker

import (
	"encoding/binary"
	"encoding/json"
)

// scanJSON reports whether data is one valid JSON value, exactly as
// json.Valid does, and whether it has white space outside its strings
// (which CompactJSON removes), in one pass. It is the publish path's
// validator: a loop over string bytes instead of encoding/json's state
// machine, which calls a function per byte. Values nested deeper than
// scanMaxDepth are handed to json.Valid (and json.Compact) unchanged.
func scanJSON(data []byte) (valid, spaced bool) {
	s := scanner{data: data}
	s.space()
	if !s.value() {
		if s.deep {
			return json.Valid(data), true // spaced: let json.Compact decide
		}
		return false, false
	}
	s.space()
	return s.i == len(data), s.spaced
}

// scanMaxDepth bounds the nesting scanJSON follows itself; encoding/json
// allows 10000.
const scanMaxDepth = 64

type scanner struct {
	data   []byte
	i      int
	depth  int
	spaced bool // white space seen outside strings
	deep   bool // gave up: nested deeper than scanMaxDepth
}

// space skips white space.
func (s *scanner) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
			s.spaced = true
		default:
			return
		}
	}
}

func (s *scanner) value() bool {
	if s.i >= len(s.data) {
		return false
	}
	switch c := s.data[s.i]; {
	case c == '{':
		return s.object()
	case c == '[':
		return s.array()
	case c == '"':
		return s.str()
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if len(s.data)-s.i < len(lit) || string(s.data[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

func (s *scanner) enter() bool {
	s.depth++
	if s.depth > scanMaxDepth {
		s.deep = true
		return false
	}
	return true
}

func (s *scanner) object() bool {
	if !s.enter() {
		return false
	}
	s.i++ // {
	s.space()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		s.depth--
		return true
	}
	for {
		if s.i >= len(s.data) || s.data[s.i] != '"' || !s.str() {
			return false
		}
		s.space()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return false
		}
		s.i++
		s.space()
		if !s.value() {
			return false
		}
		s.space()
		if s.i >= len(s.data) {
			return false
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.space()
		case '}':
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

func (s *scanner) array() bool {
	if !s.enter() {
		return false
	}
	s.i++ // [
	s.space()
	if s.i < len(s.data) && s.data[s.i] == ']' {
		s.i++
		s.depth--
		return true
	}
	for {
		if !s.value() {
			return false
		}
		s.space()
		if s.i >= len(s.data) {
			return false
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.space()
		case ']':
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// str scans a string at s.i (its opening quote). Like encoding/json, it
// accepts any byte from 0x20 up, valid UTF-8 or not. Plain runs are
// skipped eight bytes at a time.
func (s *scanner) str() bool {
	d := s.data
	for i := s.i + 1; i < len(d); {
		for i+8 <= len(d) && !special(binary.LittleEndian.Uint64(d[i:])) {
			i += 8
		}
		if i >= len(d) {
			break
		}
		switch c := d[i]; {
		case c == '"':
			s.i = i + 1
			return true
		case c == '\\':
			i++
			if i >= len(d) {
				return false
			}
			switch d[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(d)-i < 5 || !isHex(d[i+1]) || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) {
					return false
				}
				i += 4
			default:
				return false
			}
		case c < 0x20: // a control character
			return false
		}
		i++
	}
	return false
}

// special reports whether the eight bytes of x may hold a quote, a
// backslash or a control character (never false when one is there; rarely
// true when none is, which only costs a byte-wise look).
func special(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^(lo*'"'), x^(lo*'\\')
	return ((quote-lo)&^quote|(backslash-lo)&^backslash|(x-lo*0x20)&^x)&hi != 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	d, i := s.data, s.i
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i = digits(d, i)
	default:
		return false
	}
	if i < len(d) && d[i] == '.' {
		j := digits(d, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := digits(d, i)
		if j == i {
			return false
		}
		i = j
	}
	s.i = i
	return true
}

func digits(d []byte, i int) int {
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		i++
	}
	return i
}
