package broker

import (
	"testing"
	"unsafe"
)

// TestSubscriptionSize keeps a Subscription, one per connection of every
// gateway, within the 144-byte size class of the Go allocator (the rare
// per-room resets and ephemeral events behind pointers, see resetQueue
// and ephQueue; the result buffer behind one made by the first result):
// past 144 each idle connection costs 16 bytes more.
func TestSubscriptionSize(t *testing.T) {
	if got := unsafe.Sizeof(Subscription{}); got > 144 {
		t.Errorf("Subscription is %d bytes: over the 144-byte size class", got)
	}
}
