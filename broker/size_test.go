package broker

import (
	"testing"
	"unsafe"
)

// TestSubscriptionSize keeps a Subscription, one per connection of every
// gateway, within the 160-byte size class of the Go allocator (the rare
// per-room resets behind a pointer, see resetQueue; the result buffer
// behind one made by the first result): past 160 each idle connection
// costs 16 bytes more.
func TestSubscriptionSize(t *testing.T) {
	if got := unsafe.Sizeof(Subscription{}); got > 160 {
		t.Errorf("Subscription is %d bytes: over the 160-byte size class", got)
	}
}
