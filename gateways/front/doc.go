// Package front serves the server's hottest requests before net/http does:
// a Listener accepts the connections, reads each one's first request head
// into a pooled buffer, and serves it itself when the caller's Route says
// so (a single-event publish, a WebSocket handshake), through the same
// http.Handler net/http would have called, with the server's ConnContext
// and ConnState hooks. Everything else, and every request the parser is
// not sure of (HTTP/1.0, a Transfer-Encoding, an Expect, two
// Content-Lengths, a folded header, a head larger than the buffer), goes
// to net/http untouched: its Accept returns the connection with the bytes
// already read in front of it.
//
// What it saves against net/http is the per-connection state a hijacked
// WebSocket leaves behind (net/http's 4 KB read and write buffers and its
// connection object become garbage at every upgrade) and the part of a
// request's cost that is net/http's own (its request parsing, response
// object, header snapshot and buffered writer). A connection it serves
// stays with it for its next requests (keep-alive) until one of them is
// not its to serve, then goes to net/http with that request.
//
// Handlers see an ordinary *http.Request. Its ResponseWriter buffers the
// answer and writes it with its Content-Length in one write once the
// handler returns; it supports Hijack and the read and write deadlines of
// http.ResponseController, not Flush. A body the handler did not read to
// its end closes the connection after the answer. Unlike net/http's, the
// request's context is the connection's, never cancelled (nothing would
// cancel it while the handler runs), and the *http.Request, its URL and
// body, the ResponseWriter and both header maps are the connection's,
// emptied for its next request: a handler must not keep them (or the
// slices in the maps) once it returned, unless it hijacked the connection
// (a hijacked connection's are never reused). The strings in them it may
// keep, but the field values are substrings of one string of all the
// request's fields: clone one that is kept for long (r.Host is a string
// of its own).
package front
