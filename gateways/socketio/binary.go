package socketio

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/rtbroker/rtbroker/broker"
)

// Binary events of the broker gateway. The log stores bytes as JSON
// objects {"$binary":"<base64>"} (see broker.BinaryKey); on Socket.IO
// they are binary attachments. A client's BINARY_EVENT is logged with
// each placeholder {"_placeholder":true,"num":i} replaced by the $binary
// object of attachment i (fromPlaceholders); an event whose data holds
// bytes is sent as a BINARY_EVENT with each $binary object replaced by a
// placeholder and its bytes as attachments (appendPlaceholders).
//
// eventBinary returns the bytes values of a broker event's data, none for
// most events (see broker.Event.Binary). Data logged before bytes were
// checked may hold a $binary object with bad base64: it is then sent as
// plain JSON.
func eventBinary(ev *broker.Event) []broker.Binary {
	if !ev.Binary() {
		return nil
	}
	refs, err := broker.FindBinary(nil, ev.Data)
	if err != nil {
		return nil
	}
	return refs
}

// appendPlaceholders appends data with each of its bytes values (refs,
// from broker.FindBinary) replaced by the placeholder of its attachment.
func appendPlaceholders(dst, data []byte, refs []broker.Binary) []byte {
	last := 0
	for i, r := range refs {
		dst = append(dst, data[last:r.Start]...)
		dst = append(dst, `{"_placeholder":true,"num":`...)
		dst = strconv.AppendInt(dst, int64(i), 10)
		dst = append(dst, '}')
		last = r.End
	}
	return append(dst, data[last:]...)
}

// appendAttachments ends the text packet dst as a multi-frame packet
// whose attachments are the decoded bytes of refs.
func appendAttachments(dst []byte, refs []broker.Binary) []byte {
	if len(refs) == 0 {
		return dst
	}
	dst = append(dst, 0)
	for _, r := range refs {
		dst = binary.AppendUvarint(dst, uint64(r.Len))
		dst, _ = base64.StdEncoding.AppendDecode(dst, r.Base64) // valid: checked by FindBinary
	}
	return dst
}

// Errors of fromPlaceholders.
var (
	errPlaceholder = errors.New("illegal attachments: a placeholder's num must be the index of an attachment")
	errTooDeep     = errors.New("the payload is nested too deep")
)

// maxDepth bounds the nesting fromPlaceholders follows.
const maxDepth = 1000

// fromPlaceholders returns the JSON value raw (valid JSON, an argument of
// a client's BINARY_EVENT) with each placeholder object (an object whose
// "_placeholder" is true, as socket.io-parser reads it) replaced by the
// {"$binary":"<base64>"} object of the attachment its "num" names, and
// marks that attachment in used. The output is compact. A placeholder
// whose num is not the index of an attachment is an error.
func fromPlaceholders(raw []byte, atts [][]byte, used []bool) ([]byte, error) {
	c := phConv{atts: atts, used: used}
	out, i, err := c.value(make([]byte, 0, len(raw)+len(raw)/2), raw, skipWS(raw, 0), 0)
	if err != nil {
		return nil, err
	}
	if skipWS(raw, i) != len(raw) {
		return nil, fmt.Errorf("invalid JSON after the value")
	}
	return out, nil
}

// checkAttachments converts the first argument of a client's event with
// attachments (fromPlaceholders) and checks that it refers to every
// attachment.
func checkAttachments(arg []byte, atts [][]byte) ([]byte, error) {
	used := make([]bool, len(atts))
	out, err := fromPlaceholders(arg, atts, used)
	if err != nil {
		return nil, err
	}
	for i, u := range used {
		if !u {
			return nil, fmt.Errorf("attachments count mismatch: attachment %d of %d is not referred to by a placeholder of the first argument", i, len(atts))
		}
	}
	return out, nil
}

// phConv is one run of fromPlaceholders.
type phConv struct {
	atts [][]byte
	used []bool
}

// value appends the value starting at d[i] (no white space before it)
// and returns the index after it.
func (c *phConv) value(dst, d []byte, i, depth int) ([]byte, int, error) {
	if depth > maxDepth {
		return nil, 0, errTooDeep
	}
	if i >= len(d) {
		return nil, 0, errors.New("invalid JSON: unexpected end")
	}
	switch d[i] {
	case '{':
		return c.object(dst, d, i, depth)
	case '[':
		dst = append(dst, '[')
		i = skipWS(d, i+1)
		for first := true; i < len(d) && d[i] != ']'; first = false {
			if !first {
				if d[i] != ',' {
					return nil, 0, errors.New("invalid JSON array")
				}
				dst = append(dst, ',')
				i = skipWS(d, i+1)
			}
			var err error
			if dst, i, err = c.value(dst, d, i, depth+1); err != nil {
				return nil, 0, err
			}
			i = skipWS(d, i)
		}
		if i >= len(d) {
			return nil, 0, errors.New("invalid JSON array")
		}
		return append(dst, ']'), i + 1, nil
	case '"':
		end := strEnd(d, i)
		return append(dst, d[i:end]...), end, nil
	}
	j := i
	for j < len(d) && !endsLiteral(d[j]) {
		j++
	}
	if j == i {
		return nil, 0, errors.New("invalid JSON value")
	}
	return append(dst, d[i:j]...), j, nil
}

// object appends the object starting at d[i], or the $binary object of
// the attachment it stands for when it is a placeholder.
func (c *phConv) object(dst, d []byte, i, depth int) ([]byte, int, error) {
	start := len(dst)
	dst = append(dst, '{')
	i = skipWS(d, i+1)
	var isPH bool
	var num []byte
	for first := true; i < len(d) && d[i] != '}'; first = false {
		if !first {
			if d[i] != ',' {
				return nil, 0, errors.New("invalid JSON object")
			}
			dst = append(dst, ',')
			i = skipWS(d, i+1)
		}
		if i >= len(d) || d[i] != '"' {
			return nil, 0, errors.New("invalid JSON object")
		}
		kEnd := strEnd(d, i)
		key := d[i:kEnd]
		dst = append(dst, key...)
		i = skipWS(d, kEnd)
		if i >= len(d) || d[i] != ':' {
			return nil, 0, errors.New("invalid JSON object")
		}
		dst = append(dst, ':')
		i = skipWS(d, i+1)
		vStart, vOut := i, len(dst)
		var err error
		if dst, i, err = c.value(dst, d, i, depth+1); err != nil {
			return nil, 0, err
		}
		switch unquote(key) {
		case "_placeholder":
			isPH = string(d[vStart:i]) == "true"
		case "num":
			num = dst[vOut:]
		}
		i = skipWS(d, i)
	}
	if i >= len(d) {
		return nil, 0, errors.New("invalid JSON object")
	}
	if !isPH {
		return append(dst, '}'), i + 1, nil
	}
	n, err := strconv.ParseFloat(string(num), 64)
	if num == nil || err != nil || n < 0 || n != float64(int(n)) || int(n) >= len(c.atts) {
		return nil, 0, errPlaceholder
	}
	c.used[int(n)] = true
	dst = append(dst[:start], `{"$binary":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, c.atts[int(n)])
	return append(dst, `"}`...), i + 1, nil
}

// unquote returns the text of the JSON string lit (with its quotes), for
// comparing member names; "" when it has escapes other than those of
// ordinary names.
func unquote(lit []byte) string {
	s := lit[1 : len(lit)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return string(s)
	}
	v, err := strconv.Unquote(string(lit))
	if err != nil {
		return ""
	}
	return v
}

// strEnd returns the index after the JSON string starting at d[i].
func strEnd(d []byte, i int) int {
	for j := i + 1; j < len(d); j++ {
		switch d[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(d)
}

// endsLiteral reports whether c ends a number or a literal.
func endsLiteral(c byte) bool {
	switch c {
	case ',', ']', '}', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

func skipWS(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}
