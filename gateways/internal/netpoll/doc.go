// Package netpoll tells when many sockets have something to read (or were
// closed by their peer) with one goroutine and one epoll instance, so
// that an idle connection needs no goroutine parked on a read. A
// registration is one-shot (level-triggered, EPOLLONESHOT): the poller
// calls its ready function once, which schedules the connection's
// reader; the reader reads without blocking until the socket is empty,
// then calls Arm for the next readiness.
//
// The Go runtime keeps watching the same sockets for its own blocking
// reads and writes; this poller is an addition, for readers that never
// block. It is implemented on Linux; elsewhere New returns
// errors.ErrUnsupported and callers read on goroutines of their own.
package netpoll
