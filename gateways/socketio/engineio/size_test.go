package engineio

import (
	"testing"
	"unsafe"
)

// TestConnSize keeps a Conn, one per session, within the 224-byte size
// class of the Go allocator (the transport is a bool, the close reason
// and the heartbeat list a byte each, the heartbeat deadline a Duration,
// the rare Backlogged waiters behind a pointer, the one-byte fields
// together, one handler interface instead of two callbacks, the writer
// goroutine's function bound when it starts): past 224 each idle session
// costs 16 bytes more.
func TestConnSize(t *testing.T) {
	if got := unsafe.Sizeof(Conn{}); got > 224 {
		t.Errorf("Conn is %d bytes: over the 224-byte size class", got)
	}
}

// TestCloseReasonNames: each close reason a Conn keeps as a byte reads
// back as its Reason constant.
func TestCloseReasonNames(t *testing.T) {
	for r, want := range map[closeReason]string{0: "", reasonTransportClose: ReasonTransportClose,
		reasonTransportError: ReasonTransportError, reasonPingTimeout: ReasonPingTimeout,
		reasonParseError: ReasonParseError, reasonForcedClose: ReasonForcedClose, reasonSlowClient: ReasonSlowClient} {
		if got := r.String(); got != want {
			t.Errorf("closeReason(%d) = %q, want %q", r, got, want)
		}
	}
}

// TestRequestSize keeps a Request, one per session, within the 32-byte
// size class: the remote address and what Config.Keep kept, nothing the
// gateway does not read (past 32 each session costs 16 bytes more).
func TestRequestSize(t *testing.T) {
	if got := unsafe.Sizeof(Request{}); got > 32 {
		t.Errorf("Request is %d bytes: over the 32-byte size class", got)
	}
}

// TestWSConnSize keeps a wsConn, one per WebSocket session, within the
// 96-byte size class: the largest message is the server's
// (Config.MaxPayload), not a copy per connection, a fragmented message is
// assembled behind a pointer made by the first, and the two bools share
// a word. Past 96 each WebSocket session costs 16 bytes more.
func TestWSConnSize(t *testing.T) {
	if got := unsafe.Sizeof(wsConn{}); got > 96 {
		t.Errorf("wsConn is %d bytes: over the 96-byte size class", got)
	}
}
