package rawio

import "net"

// TCP returns the TCP connection under nc, a connection a handler took
// from the HTTP server: nc itself, or the socket under a connection whose
// first bytes were read before net/http served it (one the front handed
// over), once those bytes have been read.
func TCP(nc net.Conn) (*net.TCPConn, bool) {
	switch c := nc.(type) {
	case *net.TCPConn:
		return c, true
	case interface{ TCPConn() (*net.TCPConn, bool) }:
		return c.TCPConn()
	}
	return nil, false
}
