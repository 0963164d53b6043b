package iheap_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/rtbroker/rtbroker/gateways/internal/iheap"
)

type item struct {
	key, idx int
}

// TestHeap pushes, re-keys and removes at random and checks that the
// indexes stay right and that elements come out in key order.
func TestHeap(t *testing.T) {
	h := iheap.New(func(a, b *item) bool { return a.key < b.key }, func(x *item, i int) { x.idx = i })
	var in []*item
	for range 1000 {
		switch r := rand.N(4); {
		case r < 2 || len(in) == 0:
			x := &item{key: rand.N(100)}
			h.Push(x)
			in = append(in, x)
		case r == 2:
			x := in[rand.N(len(in))]
			x.key = rand.N(100)
			h.Fix(x.idx)
		default:
			j := rand.N(len(in))
			h.Remove(in[j].idx)
			if in[j].idx != -1 {
				t.Fatalf("removed element has index %d", in[j].idx)
			}
			in = slices.Delete(in, j, j+1)
		}
		for _, x := range in {
			if got := h.Items(); len(got) != len(in) || x.idx < 0 || x.idx >= len(got) {
				t.Fatalf("index %d of %d elements", x.idx, len(got))
			}
		}
	}
	prev := -1
	for h.Len() > 0 {
		if m := h.Min(); m.key < prev {
			t.Fatalf("key %d after %d", m.key, prev)
		}
		x := h.Pop()
		prev = x.key
		if x.idx != -1 {
			t.Fatalf("popped element has index %d", x.idx)
		}
	}
}
