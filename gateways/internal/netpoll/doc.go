// Package netpoll tells when many sockets have something to read (or were
// closed by their peer) with one goroutine and one epoll instance, so
// that an idle connection needs no goroutine parked on a read. A
// registration is one-shot (level-triggered, EPOLLONESHOT): the poller
// calls its Readier once, which schedules the connection's
// reader; the reader reads without blocking until the socket is empty,
// then calls Arm for the next readiness.
//
// The Go runtime keeps watching the same sockets for its own blocking
// reads and writes; this poller is an addition, for readers that never
// block. It is implemented on Linux; elsewhere New returns
// errors.ErrUnsupported and callers read on goroutines of their own.
package netpoll

// Readier is what a registration makes ready (see Poller.Add). Ready must
// not block: it schedules the reader and returns. A pump task is one, so
// registering it costs no closure; Func adapts a function.
type Readier interface {
	Ready()
}

// Func is a Readier that calls the function.
type Func func()

// Ready calls f.
func (f Func) Ready() { f() }
