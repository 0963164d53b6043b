package front

import (
	"bytes"
	"net/http"
	"net/textproto"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// head is a request head the front may serve: the request line and the
// header fields, parsed strictly.
type head struct {
	method, target string
	host           string
	header         http.Header
	length         int64 // Content-Length; 0 when absent
	close          bool  // Connection: close
}

// maxFields is the most header fields a head the front serves may have;
// a request with more goes to net/http.
const maxFields = 64

// parseHead parses the head b (request line and fields, each ending in
// CRLF, then the empty line's CRLF; b is all of it). It reports false for
// anything it would not read exactly as net/http does, or that net/http
// answers with an error, so that such a request is left to net/http:
// another version than HTTP/1.1, a request target that is not a path,
// a bare CR or LF, a folded line, a field name that is not a token, a
// value with control characters, no Host or two or a malformed one, a Transfer-Encoding, an
// Expect, a Content-Length that is not one plain number.
//
// The header map and its value slices are f's (see fieldBufs), or new
// when f is nil.
func parseHead(b []byte, f *fieldBufs) (h head, ok bool) {
	line, rest, ok := cutLine(b)
	if !ok {
		return h, false
	}
	method, line, ok := bytes.Cut(line, []byte{' '})
	if !ok || len(method) == 0 || !allUpper(method) {
		return h, false
	}
	target, version, ok := bytes.Cut(line, []byte{' '})
	if !ok || len(target) == 0 || target[0] != '/' || string(version) != "HTTP/1.1" || !printable(target) {
		return h, false
	}
	// The fields' names and values are substrings of one string of them
	// all, and each name's values a slice of one array (the connection's,
	// with the map, when f is not nil): two allocations (the target and
	// that string) whatever the count of fields. The target is a string of
	// its own: a room name taken from it outlives the request (in the
	// events), the fields do not.
	h.method, h.target = methodString(method), string(target)
	n := bytes.Count(rest, []byte("\r\n")) - 1 // the empty line's is the last
	if n < 0 || n > maxFields {
		return h, false
	}
	fields := string(rest)
	var values []string
	h.header, values = f.take(n)
	hosts, lengths := 0, 0
	for i := 0; ; i++ {
		at := len(fields) - len(rest)
		if line, rest, ok = cutLine(rest); !ok {
			return h, false
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok || len(name) == 0 || !token(name) {
			return h, false
		}
		start := at + len(name) + 1
		for len(value) > 0 && (value[0] == ' ' || value[0] == '\t') {
			value, start = value[1:], start+1
		}
		value = bytes.TrimRight(value, " \t")
		if !fieldValue(value) {
			return h, false
		}
		key := canonicalKey(name, fields[at:at+len(name)])
		v := fields[start : start+len(value)]
		switch key {
		case "Host":
			hosts++
			h.host = v
		case "Content-Length":
			lengths++
			if h.length, ok = digits(value); !ok {
				return h, false
			}
		case "Transfer-Encoding", "Expect":
			return h, false
		}
		if vs, seen := h.header[key]; seen {
			h.header[key] = append(vs, v) // a repeated field: rare, it may allocate
		} else {
			values[i] = v
			h.header[key] = values[i : i+1 : i+1]
		}
	}
	h.close = hasToken(h.header["Connection"], "close")
	if hosts != 1 || lengths > 1 || len(rest) != 0 || !httpguts.ValidHostHeader(h.host) {
		return h, false
	}
	return h, true
}

// canonicalKey returns the canonical form of the field name b (a token),
// as textproto.CanonicalMIMEHeaderKey does: s (b as a string) when b is
// already canonical, a constant for the common fields, a new string
// otherwise.
func canonicalKey(b []byte, s string) string {
	if isCanonical(b) {
		return s
	}
	if len(b) > 32 {
		return textproto.CanonicalMIMEHeaderKey(s)
	}
	var buf [32]byte
	c := buf[:len(b)]
	upper := true
	for i, x := range b {
		if upper && 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		} else if !upper && 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		c[i] = x
		upper = x == '-'
	}
	switch string(c) { // compared without a copy
	case "Host":
		return "Host"
	case "Content-Length":
		return "Content-Length"
	case "Content-Type":
		return "Content-Type"
	case "Connection":
		return "Connection"
	case "User-Agent":
		return "User-Agent"
	case "Accept":
		return "Accept"
	case "Accept-Encoding":
		return "Accept-Encoding"
	case "Accept-Language":
		return "Accept-Language"
	case "Authorization":
		return "Authorization"
	case "X-Api-Key":
		return "X-Api-Key"
	case "Idempotency-Key":
		return "Idempotency-Key"
	case "Origin":
		return "Origin"
	case "Cookie":
		return "Cookie"
	case "Upgrade":
		return "Upgrade"
	case "Sec-Websocket-Key":
		return "Sec-Websocket-Key"
	case "Sec-Websocket-Version":
		return "Sec-Websocket-Version"
	case "Sec-Websocket-Extensions":
		return "Sec-Websocket-Extensions"
	case "X-Forwarded-For":
		return "X-Forwarded-For"
	}
	return string(c)
}

// isCanonical reports whether the token b is in canonical form: an upper
// case letter first and after each '-', lower case elsewhere.
func isCanonical(b []byte) bool {
	upper := true
	for _, c := range b {
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}

// fieldBufs are a connection's header map and array of field values,
// reused from one request to the next (a handler the front serves must
// not keep r.Header, or a slice of it, once it returned).
type fieldBufs struct {
	header http.Header
	values []string
}

// take returns f's map, empty, and an array of n values; new ones when f
// is nil.
func (f *fieldBufs) take(n int) (http.Header, []string) {
	if f == nil {
		return make(http.Header, n), make([]string, n)
	}
	if f.header == nil {
		f.header = make(http.Header, n)
	}
	clear(f.header)
	if cap(f.values) < n {
		f.values = make([]string, max(n, 16))
	}
	return f.header, f.values[:n]
}

// reset lets go of the last request's fields (an idle connection does not
// keep its strings), and of a map a handler grew large.
func (f *fieldBufs) reset() {
	if len(f.header) > maxReusedFields {
		f.header = nil
	} else {
		clear(f.header)
	}
	clear(f.values)
}

// headEnd returns the length of the head at the start of b (through the
// empty line's CRLF), or -1 if b does not hold all of it yet.
func headEnd(b []byte) int {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		return -1
	}
	return i + 4
}

// cutLine cuts b after its first CRLF; a CR or LF alone is refused.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 1 || b[i-1] != '\r' {
		return nil, nil, false
	}
	line = b[:i-1]
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, nil, false
	}
	return line, b[i+1:], true
}

// methodString returns the method, without an allocation for the two the
// front's routes use.
func methodString(m []byte) string {
	switch string(m) {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodPost:
		return http.MethodPost
	}
	return string(m)
}

func allUpper(b []byte) bool {
	for _, c := range b {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// printable reports whether b has only visible ASCII: a request target.
func printable(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// token reports whether b is an RFC 9110 token (a field name).
func token(b []byte) bool {
	for _, c := range b {
		if !isTchar(c) {
			return false
		}
	}
	return true
}

func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0
}

// fieldValue reports whether b is a field value without control
// characters (a horizontal tab aside).
func fieldValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// digits parses a Content-Length: one to 18 ASCII digits.
func digits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// hasToken reports whether one of the comma-separated values vs holds
// tok, case-insensitively.
func hasToken(vs []string, tok string) bool {
	for _, v := range vs {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), tok) {
				return true
			}
		}
	}
	return false
}
