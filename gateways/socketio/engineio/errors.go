package engineio

import (
	"errors"
	"net/http"
	"strconv"
)

// Errors returned by [Conn.Send].
var (
	// ErrClosed is returned when sending on a closed or closing session.
	ErrClosed = errors.New("engineio: connection closed")
	// ErrSlowClient is returned when a send would exceed the
	// connection's WriteBufferLimit; the connection is then closed with
	// ReasonSlowClient.
	ErrSlowClient = errors.New("engineio: write buffer limit exceeded")
)

// ErrorCode is an Engine.IO handshake/request error, sent as the JSON body
// {"code":N,"message":"…"} of an HTTP 400 (403 for CodeForbidden) response.
// The codes and messages are those of the Node.js server.
type ErrorCode int

// The error codes of the Engine.IO server.
const (
	CodeUnknownTransport           ErrorCode = 0 // "Transport unknown"
	CodeUnknownSID                 ErrorCode = 1 // "Session ID unknown"
	CodeBadHandshakeMethod         ErrorCode = 2 // "Bad handshake method"
	CodeBadRequest                 ErrorCode = 3 // "Bad request"
	CodeForbidden                  ErrorCode = 4 // "Forbidden"
	CodeUnsupportedProtocolVersion ErrorCode = 5 // "Unsupported protocol version"
)

// Message returns the wire message for the code.
func (c ErrorCode) Message() string {
	switch c {
	case CodeUnknownTransport:
		return "Transport unknown"
	case CodeUnknownSID:
		return "Session ID unknown"
	case CodeBadHandshakeMethod:
		return "Bad handshake method"
	case CodeBadRequest:
		return "Bad request"
	case CodeForbidden:
		return "Forbidden"
	case CodeUnsupportedProtocolVersion:
		return "Unsupported protocol version"
	}
	return "Bad request"
}

// writeError answers a request with the Engine.IO JSON error. msg
// overrides the code's message when not empty.
func writeError(w http.ResponseWriter, code ErrorCode, msg string) {
	status := http.StatusBadRequest
	if code == CodeForbidden {
		status = http.StatusForbidden
	}
	writeErrorStatus(w, status, code, msg)
}

// writeErrorStatus is writeError with an explicit HTTP status.
func writeErrorStatus(w http.ResponseWriter, status int, code ErrorCode, msg string) {
	if msg == "" {
		msg = code.Message()
	}
	body := make([]byte, 0, 48+len(msg))
	body = append(body, `{"code":`...)
	body = strconv.AppendInt(body, int64(code), 10)
	body = append(body, `,"message":`...)
	body = appendJSONString(body, msg)
	body = append(body, '}')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
