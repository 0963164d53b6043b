package socketio

import (
	"testing"
	"unsafe"
)

// TestMemberSize keeps a member, one per socket, within the 448-byte size
// class of the Go allocator: fields that are rare (a token's expiry entry)
// live behind a pointer, and none duplicates another (the pid is the
// session record's, the deadline the identity's). Past 448 each idle
// socket costs 32 bytes more (the 480-byte class), or 64 (512).
func TestMemberSize(t *testing.T) {
	if got := unsafe.Sizeof(member{}); got > 448 {
		t.Errorf("member is %d bytes: over the 448-byte size class", got)
	}
}
