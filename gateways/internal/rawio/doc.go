// Package rawio writes to (and peeks at) TCP sockets without blocking,
// through their syscall.RawConn, so that a scheduler worker can serve many
// connections without ever waiting on one of them: it writes what the
// socket takes at once and leaves the rest to a goroutine that may wait
// (with a deadline). Gather lays out the buffers of such a write, copying
// small pieces together and referencing large shared ones.
//
// Non-blocking writes are implemented on Linux; elsewhere Supported is
// false and callers use ordinary (blocking) writes on goroutines of their
// own.
package rawio
