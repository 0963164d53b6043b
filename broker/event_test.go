package broker

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

// TestEventEncodeConcurrent checks the encoding cache under racing
// callers: every caller gets the same bytes per encoder (one result
// wins), and each encoder is cached once.
func TestEventEncodeConcurrent(t *testing.T) {
	for range 50 {
		e := &Event{Offset: 1, Room: "r", Type: "t", Data: []byte(`{}`)}
		var calls atomic.Int64
		encs := make([]*Encoder, 3)
		for i := range encs {
			encs[i] = NewEncoder(func(*Event) []byte { return []byte(strconv.FormatInt(calls.Add(1), 10)) })
		}
		const callers = 8
		got := make([][3][]byte, callers)
		var wg sync.WaitGroup
		for g := range callers {
			wg.Go(func() {
				for i := range encs {
					j := (i + g) % len(encs)
					got[g][j] = e.Encode(encs[j])
				}
			})
		}
		wg.Wait()
		for g := range callers {
			for j := range encs {
				if unsafe.SliceData(got[g][j]) != unsafe.SliceData(got[0][j]) {
					t.Fatalf("encoder %d: caller %d got %q, caller 0 %q", j, g, got[g][j], got[0][j])
				}
			}
		}
		n := 0
		for x := e.enc.Load(); x != nil; x = x.next {
			n++
		}
		if n != len(encs) {
			t.Fatalf("%d encodings cached, want %d", n, len(encs))
		}
	}
}

// TestEventEncodeFirstInPlace checks that an event's first encoding is
// cached in the event itself and the next ones beside it.
func TestEventEncodeFirstInPlace(t *testing.T) {
	e := &Event{Offset: 1, Room: "r", Type: "t", Data: []byte(`{}`)}
	a := NewEncoder(func(*Event) []byte { return []byte("a") })
	b := NewEncoder(func(*Event) []byte { return []byte("b") })
	if string(e.Encode(a)) != "a" || e.enc.Load() != &e.first {
		t.Fatal("the first encoding is not the event's own node")
	}
	if string(e.Encode(b)) != "b" || e.enc.Load() == &e.first || e.enc.Load().next != &e.first {
		t.Fatal("the second encoding is not a node of its own before the first")
	}
	if string(e.Encode(a)) != "a" || string(e.Encode(b)) != "b" {
		t.Fatal("cached encodings changed")
	}
}

// TestEventSize keeps an Event, with its first encoding in place, within
// the 176-byte size class: what an event and a separate first node took
// before.
func TestEventSize(t *testing.T) {
	if n := unsafe.Sizeof(Event{}); n > 176 {
		t.Errorf("Event is %d bytes, want at most 176", n)
	}
}
