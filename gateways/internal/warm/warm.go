// Package warm runs short-lived functions on goroutines that stay for a
// while after one returns, to take the next.
//
// A connection's first requests run deep call chains (the WebSocket
// handshake, a Socket.IO CONNECT and its session record, a room join and
// its JSON): on a new goroutine, whose stack starts small, each of them
// grows the stack two or three times, and each growth copies the stack
// into fresh memory. In a reconnect storm of 5,000 sockets that was 15 %
// of the server's CPU. A goroutine that ran one connection's handshake
// already has the stack the next one needs, so Go hands the function to an
// idle one when there is one and starts a goroutine only when there is
// not. Idle goroutines end after linger, so a server at rest keeps none.
package warm

import (
	"sync"
	"time"
)

// linger is how long a goroutine waits for more work after its function
// returned, before it ends (a variable for the tests).
var linger = 2 * time.Second

// work hands a function to a goroutine waiting in linger. Unbuffered: a
// send succeeds only when one is waiting.
var work = make(chan func())

// Go runs f on a goroutine, counted in wg (Add before, Done when f
// returns), as wg.Go(f) does.
func Go(wg *sync.WaitGroup, f func()) {
	wg.Add(1)
	g := func() {
		defer wg.Done()
		f()
	}
	select {
	case work <- g:
	default:
		go run(g)
	}
}

// run runs f, then the functions handed to it, until none came for
// linger.
func run(f func()) {
	f()
	t := time.NewTimer(linger)
	defer t.Stop()
	for {
		select {
		case f = <-work:
			f()
			t.Reset(linger)
		case <-t.C:
			return
		}
	}
}
