package protocol

import (
	"testing"
	"unsafe"
)

// TestSocketSize keeps a Socket, one per connected namespace, within the
// 96-byte size class of the Go allocator (the ack counter is 32 bits,
// the small fields share a word, the CONNECT payload is a pointer to the
// packet's, one handler interface instead of two callbacks): past 96
// each idle socket costs 16 bytes more.
func TestSocketSize(t *testing.T) {
	if got := unsafe.Sizeof(Socket{}); got > 96 {
		t.Errorf("Socket is %d bytes: over the 96-byte size class", got)
	}
}

// TestClientSize keeps a client, one per engine connection, within the
// 80-byte size class, its first socket's array included (a client with
// one namespace allocates no slice for it; the decoder keeps no count it
// can derive, and a closed client is one without sockets): past 80 each
// connection costs 16 bytes more.
func TestClientSize(t *testing.T) {
	if got := unsafe.Sizeof(client{}); got > 80 {
		t.Errorf("client is %d bytes: over the 80-byte size class", got)
	}
}
