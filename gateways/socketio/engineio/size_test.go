package engineio

import (
	"testing"
	"unsafe"
)

// TestConnSize keeps a Conn, one per session, within the 256-byte size
// class of the Go allocator (the transport is a bool, the heartbeat
// deadline a Duration, the rare Backlogged waiters behind a pointer, the
// one-byte fields together): past 256 each idle session costs 32 bytes
// more.
func TestConnSize(t *testing.T) {
	if got := unsafe.Sizeof(Conn{}); got > 256 {
		t.Errorf("Conn is %d bytes: over the 256-byte size class", got)
	}
}
