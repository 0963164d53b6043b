package socketio

import (
	"testing"
	"unsafe"
)

// TestMemberSize keeps a member, one per socket, within the 256-byte size
// class of the Go allocator: the identity's permissions are shared
// behind a pointer (auth.Identity.Rooms), the gateway is the
// namespace's, what is rare (a token's expiry entry) lives
// in the gateway (Gateway.expiries), what not every socket has (awaited
// publishes, rooms it is present in) is behind a pointer, no field
// duplicates another (the session record's pid, namespace, socket id
// and epoch are the socket's, the namespace's and the log's: see
// member.record; the deadline is the identity's, the auto-join rooms
// follow from the identity), the last save is a Duration, and the small
// fields share words. Past 256 each idle socket costs 32 bytes more (the
// 288-byte class), or 64 (320).
func TestMemberSize(t *testing.T) {
	if got := unsafe.Sizeof(member{}); got > 256 {
		t.Errorf("member is %d bytes: over the 256-byte size class", got)
	}
}
