// Package iheap is an indexed min-heap: its elements keep their own index
// (set through a callback), so that an element can be removed or
// re-ordered in O(log n) without a search. The gateways use it for
// deadlines: Socket.IO sockets whose token expires, SSE streams whose next
// heartbeat or expiry is due.
package iheap

import "container/heap"

// Heap is a min-heap of T ordered by less. It is not safe for concurrent
// use: its owner guards it (and the indexes it sets) with a lock.
type Heap[T any] struct {
	items    []T
	less     func(a, b T) bool
	setIndex func(x T, i int)
}

// New returns an empty heap ordered by less; setIndex is told each
// element's index whenever it changes, and -1 when it leaves the heap.
func New[T any](less func(a, b T) bool, setIndex func(x T, i int)) *Heap[T] {
	return &Heap[T]{less: less, setIndex: setIndex}
}

// Len is the number of elements.
func (h *Heap[T]) Len() int { return len(h.items) }

// Min returns the least element; the heap must not be empty.
func (h *Heap[T]) Min() T { return h.items[0] }

// Push adds x.
func (h *Heap[T]) Push(x T) { heap.Push((*adapter[T])(h), x) }

// Pop removes and returns the least element; the heap must not be empty.
func (h *Heap[T]) Pop() T { return heap.Pop((*adapter[T])(h)).(T) }

// Remove removes the element at index i (as last set by setIndex).
func (h *Heap[T]) Remove(i int) { heap.Remove((*adapter[T])(h), i) }

// Fix restores the order after the element at index i changed.
func (h *Heap[T]) Fix(i int) { heap.Fix((*adapter[T])(h), i) }

// Items returns a copy of the elements, in no particular order.
func (h *Heap[T]) Items() []T { return append([]T(nil), h.items...) }

// adapter is Heap as a container/heap.Interface.
type adapter[T any] Heap[T]

func (a *adapter[T]) Len() int           { return len(a.items) }
func (a *adapter[T]) Less(i, j int) bool { return a.less(a.items[i], a.items[j]) }
func (a *adapter[T]) Swap(i, j int) {
	a.items[i], a.items[j] = a.items[j], a.items[i]
	a.setIndex(a.items[i], i)
	a.setIndex(a.items[j], j)
}

func (a *adapter[T]) Push(x any) {
	a.setIndex(x.(T), len(a.items))
	a.items = append(a.items, x.(T))
}

func (a *adapter[T]) Pop() any {
	n := len(a.items) - 1
	x := a.items[n]
	var zero T
	a.items[n] = zero
	a.items = a.items[:n]
	a.setIndex(x, -1)
	return x
}
