package socketio

import (
	"testing"
	"unsafe"
)

// TestMemberSize keeps a member, one per socket, within the 448-byte size
// class of the Go allocator: what is rare (a token's expiry entry) lives
// in the gateway (Gateway.expiries), no field duplicates another (the pid
// is the session record's, the deadline the identity's, the auto-join
// rooms follow from the identity), the last save is a Duration, and the
// small fields share words. Past 448 each idle socket costs 32 bytes more
// (the 480-byte class), or 64 (512).
func TestMemberSize(t *testing.T) {
	if got := unsafe.Sizeof(member{}); got > 448 {
		t.Errorf("member is %d bytes: over the 448-byte size class", got)
	}
}
