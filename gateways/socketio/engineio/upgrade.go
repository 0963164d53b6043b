package engineio

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"
)

// errUpgrade is returned by upgrade once it has answered the request with
// an error.
var errUpgrade = errors.New("engineio: websocket upgrade refused")

// upgrade answers a WebSocket opening handshake (RFC 6455 §4.2) and takes
// the connection from net/http. The engine speaks no subprotocol and no
// extension. Requests that are not handshakes get 400 (405 for a method
// other than GET; 400 over HTTP/1.0), an origin CheckOrigin refuses, or
// more than one Origin header, gets 403; the error is
// then errUpgrade. first (the first frames, already encoded) is written
// with the 101 response, in one write. It allocates only the response it
// writes, so that a connection's setup leaves little behind.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, first []byte) (net.Conn, error) {
	key := r.Header.Get("Sec-Websocket-Key")
	status := 0
	switch {
	case !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket"):
		status = http.StatusBadRequest
	case r.Method != http.MethodGet:
		status = http.StatusMethodNotAllowed
	case !r.ProtoAtLeast(1, 1): // RFC 6455 §4.1: HTTP/1.1 or later
		status = http.StatusBadRequest
	case !headerHasToken(r.Header, "Sec-Websocket-Version", "13"):
		status = http.StatusBadRequest
	case !s.checkOrigin(r):
		status = http.StatusForbidden
	case !validKey(key):
		status = http.StatusBadRequest
	}
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return nil, errUpgrade
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return nil, errUpgrade
	}
	if brw.Reader.Buffered() > 0 {
		// The client may not send frames before it has the answer.
		_ = nc.Close()
		return nil, errors.New("engineio: websocket client sent data before the handshake was complete")
	}
	var b [256]byte
	resp := append(b[:0], "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	resp = base64.StdEncoding.AppendEncode(resp, sum[:])
	resp = append(resp, "\r\n\r\n"...)
	resp = append(resp, first...)
	_ = nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if _, err := nc.Write(resp); err != nil {
		_ = nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return nc, nil
}

// validKey reports whether the Sec-WebSocket-Key is 16 bytes in base64.
func validKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	var b [18]byte
	n, err := base64.StdEncoding.Decode(b[:], []byte(key))
	return err == nil && n == 16
}

// headerHasToken reports whether a comma-separated header of h holds
// token, case-insensitively.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h[name] {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}
