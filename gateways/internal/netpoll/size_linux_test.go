package netpoll

import (
	"testing"
	"unsafe"
)

// TestRegSize keeps a Reg, one per idle WebSocket connection, within the
// 48-byte size class of the Go allocator with its Readier an interface
// (the descriptor and its generation share a word): past 48 each idle
// connection costs 16 bytes more.
func TestRegSize(t *testing.T) {
	if got := unsafe.Sizeof(Reg{}); got > 48 {
		t.Errorf("Reg is %d bytes: over the 48-byte size class", got)
	}
}
