package broker

import (
	"testing"
	"unsafe"
)

// TestSubscriptionSize keeps a Subscription, one per connection of every
// gateway, within the 176-byte size class of the Go allocator (the rare
// per-room resets behind a pointer, see resetQueue): past 176 each idle
// connection costs 16 bytes more.
func TestSubscriptionSize(t *testing.T) {
	if got := unsafe.Sizeof(Subscription{}); got > 176 {
		t.Errorf("Subscription is %d bytes: over the 176-byte size class", got)
	}
}
