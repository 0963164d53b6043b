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

// Prefixed returns nc with prefix (copied) in front of what it reads: a
// connection whose first bytes were read already, handed to net/http.
// TCP finds the socket under it once those bytes have been read.
func Prefixed(nc net.Conn, prefix []byte) net.Conn {
	return &prefixConn{Conn: nc, prefix: append([]byte(nil), prefix...)}
}

// prefixConn is a connection whose first bytes were read already.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		if len(c.prefix) == 0 {
			c.prefix = nil // not kept for the connection's life
		}
		return n, nil
	}
	return c.Conn.Read(b)
}

// TCPConn returns the TCP connection under c once its prefix has been
// read (a handler that hijacked it may then use the socket directly).
func (c *prefixConn) TCPConn() (*net.TCPConn, bool) {
	tc, ok := c.Conn.(*net.TCPConn)
	return tc, ok && len(c.prefix) == 0
}
