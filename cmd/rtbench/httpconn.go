package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"
)

// A minimal HTTP/1.1 client for the subscribers (SSE, long-poll, Engine.IO
// polling) and the HTTP publisher: one keep-alive connection driven by one
// goroutine, reusing its buffers, so that thousands of them cost little
// and a publish costs the load tool about 40 % of what net/http's client
// did (see newPublisher).

// maxBody bounds a response body the tool accepts (a long-poll page of
// 1,000 large events fits).
const maxBody = 64 << 20

// errStatus is returned for a response with an unexpected status.
type errStatus struct {
	code int
	body string
}

func (e *errStatus) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.body) }

// newDialer returns a dialer binding to src (nil: any) without reserving
// a port at bind time (IP_BIND_ADDRESS_NO_PORT), so that many source
// addresses can each open tens of thousands of connections.
func newDialer(src net.IP, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout, KeepAlive: -1}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
		d.Control = func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) {
				// IP_BIND_ADDRESS_NO_PORT (Linux 4.2+); harmless if refused.
				_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, 24, 1)
			})
		}
	}
	return d
}

// httpConn is one keep-alive HTTP/1.1 connection. Not safe for
// concurrent use, except close.
type httpConn struct {
	nc   net.Conn
	br   *bufio.Reader
	req  []byte // the request being written
	body []byte // the last response body (reused)
	// reused: the connection already carried a response, so a failure to
	// read the next one's first byte may be the server closing an idle
	// connection (safe to retry).
	reused bool
	// redial opens a new connection to the same address, after a response
	// with Connection: close (as rtbroker answers a poll it held off
	// net/http); onDial, when set, is told of the new connection.
	redial func() (net.Conn, error)
	onDial func(net.Conn)
}

func dialHTTP(ctx context.Context, d *net.Dialer, addr string) (*httpConn, error) {
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	redial := func() (net.Conn, error) { return d.DialContext(context.Background(), "tcp", addr) }
	return &httpConn{nc: nc, br: bufio.NewReaderSize(nc, 1024), redial: redial}, nil
}

// reconnect replaces the connection the server closes after its last
// response with a new one, as any HTTP/1.1 client does.
func (h *httpConn) reconnect() error {
	h.nc.Close()
	nc, err := h.redial()
	if err != nil {
		return fmt.Errorf("reconnect after Connection: close: %w", err)
	}
	h.nc, h.reused = nc, false
	h.br.Reset(nc)
	if h.onDial != nil {
		h.onDial(nc)
	}
	return nil
}

func (h *httpConn) close() { h.nc.Close() }

// startRequest begins a request in h.req: request line and Host.
func (h *httpConn) startRequest(method, target, host string) {
	h.req = append(h.req[:0], method...)
	h.req = append(h.req, ' ')
	h.req = append(h.req, target...)
	h.req = append(h.req, " HTTP/1.1\r\nHost: "...)
	h.req = append(h.req, host...)
	h.req = append(h.req, "\r\n"...)
}

// header adds a header line to the request being built.
func (h *httpConn) header(name, value string) {
	h.req = append(h.req, name...)
	h.req = append(h.req, ": "...)
	h.req = append(h.req, value...)
	h.req = append(h.req, "\r\n"...)
}

// send finishes the request with body (may be nil) and writes it.
func (h *httpConn) send(body []byte) error {
	if body != nil {
		h.req = append(h.req, "Content-Length: "...)
		h.req = strconv.AppendInt(h.req, int64(len(body)), 10)
		h.req = append(h.req, "\r\n"...)
	}
	h.req = append(h.req, "\r\n"...)
	h.req = append(h.req, body...)
	_, err := h.nc.Write(h.req)
	return err
}

// respHead is what the tool needs of a response's head.
type respHead struct {
	status  int
	length  int64 // -1 when not given
	chunked bool
	close   bool
	accept  []byte // Sec-WebSocket-Accept
}

// readHead reads the status line and the headers.
func (h *httpConn) readHead() (respHead, error) {
	hd := respHead{length: -1}
	line, err := h.br.ReadSlice('\n')
	if err != nil {
		return hd, err
	}
	h.reused = true
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return hd, fmt.Errorf("bad status line %q", line)
	}
	code, _, ok := leadingUint(line[9:])
	if !ok {
		return hd, fmt.Errorf("bad status line %q", line)
	}
	hd.status = int(code)
	for {
		line, err := h.br.ReadSlice('\n')
		if err != nil {
			return hd, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return hd, nil
		}
		i := bytes.IndexByte(line, ':')
		if i < 0 {
			continue
		}
		name, value := line[:i], bytes.TrimSpace(line[i+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, _, ok := leadingUint(value)
			if !ok || n > maxBody {
				return hd, fmt.Errorf("bad Content-Length %q", value)
			}
			hd.length = int64(n)
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			hd.chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			hd.close = bytes.EqualFold(value, []byte("close"))
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Accept")):
			hd.accept = bytes.Clone(value)
		}
	}
}

// readBody reads the whole body into h.body and returns it.
func (h *httpConn) readBody(hd respHead) ([]byte, error) {
	h.body = h.body[:0]
	switch {
	case hd.chunked:
		cr := chunkedReader{br: h.br}
		for {
			if len(h.body) == cap(h.body) {
				if len(h.body) >= maxBody {
					return nil, errors.New("response body too large")
				}
				h.body = append(h.body, 0)[:len(h.body)]
			}
			n, err := cr.Read(h.body[len(h.body):cap(h.body)])
			h.body = h.body[:len(h.body)+n]
			if err == io.EOF {
				return h.body, nil
			}
			if err != nil {
				return nil, err
			}
		}
	case hd.length >= 0:
		if int64(cap(h.body)) < hd.length {
			h.body = make([]byte, 0, hd.length)
		}
		h.body = h.body[:hd.length]
		if _, err := io.ReadFull(h.br, h.body); err != nil {
			return nil, err
		}
		return h.body, nil
	default:
		return nil, errors.New("response without a length")
	}
}

// roundTrip writes the request built in h.req with body and reads the
// whole response.
func (h *httpConn) roundTrip(body []byte) (int, []byte, error) {
	if err := h.send(body); err != nil {
		return 0, nil, err
	}
	hd, err := h.readHead()
	if err != nil {
		return 0, nil, err
	}
	b, err := h.readBody(hd)
	if err != nil {
		return 0, nil, err
	}
	if hd.close && h.redial != nil {
		// The response is complete: the next request goes on a new
		// connection (b stays valid until the next response is read).
		return hd.status, b, h.reconnect()
	}
	if hd.close {
		return hd.status, b, errConnClose
	}
	return hd.status, b, nil
}

// errConnClose reports a complete response after which the server closes
// the connection, on an httpConn that cannot redial: use the response,
// then reconnect.
var errConnClose = errors.New("server closes the connection")

// chunkedReader decodes a chunked body from br.
type chunkedReader struct {
	br      *bufio.Reader
	n       uint64 // bytes left in the current chunk
	started bool   // a chunk was read (its CRLF is pending when n == 0)
	eof     bool
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.eof {
		return 0, io.EOF
	}
	for c.n == 0 {
		if c.started {
			if err := c.crlf(); err != nil {
				return 0, err
			}
		}
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		size, err := parseHex(line)
		if err != nil {
			return 0, err
		}
		c.started = true
		if size == 0 {
			// Trailer: lines until an empty one.
			for {
				l, err := c.br.ReadSlice('\n')
				if err != nil {
					return 0, err
				}
				if len(bytes.TrimRight(l, "\r\n")) == 0 {
					c.eof = true
					return 0, io.EOF
				}
			}
		}
		c.n = size
	}
	if uint64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.br.Read(p)
	c.n -= uint64(n)
	return n, err
}

func (c *chunkedReader) crlf() error {
	b, err := c.br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(bytes.TrimRight(b, "\r\n")) != 0 {
		return errors.New("malformed chunked encoding")
	}
	return nil
}

// parseHex reads a chunk-size line ("1a;ext\r\n").
func parseHex(line []byte) (uint64, error) {
	var n uint64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			if i == 0 {
				return 0, errors.New("malformed chunk size")
			}
			if n > maxBody {
				return 0, errors.New("chunk too large")
			}
			return n, nil
		}
		if i >= 16 {
			return 0, errors.New("chunk too large")
		}
		n = n<<4 | uint64(d)
	}
	return 0, errors.New("malformed chunk size")
}
