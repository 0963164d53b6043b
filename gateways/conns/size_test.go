package conns

import (
	"testing"
	"unsafe"
)

// TestEntrySize keeps an Entry, one per open connection, within the
// 112-byte size class of the Go allocator (its id is built on demand, its
// time kept in Unix nanoseconds, no mutex of its own): past it each idle
// connection costs 16 bytes more.
func TestEntrySize(t *testing.T) {
	if got := unsafe.Sizeof(Entry{}); got > 112 {
		t.Errorf("Entry is %d bytes: over the 112-byte size class", got)
	}
}
