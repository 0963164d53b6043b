// Package sse serves room events as Server-Sent Events (the browser's
// EventSource) from a *broker.Broker.
//
// A client opens GET /sse?room=R[&room=R2…][&after=N][&epoch=E]. Each
// committed event becomes one SSE frame whose id is the event's log offset
// and whose event name is the event type; the data is the event's JSON
// object (see broker.Event.JSON). When the connection drops, EventSource
// reconnects with the Last-Event-ID header, and the stream continues from
// that offset: replay of what was missed, then live events, each exactly
// once, in offset order. When the requested position cannot be honoured
// (events were removed by retention, or the position is from another log
// instance) the first frame is an `event: reset` naming the position the
// stream continues from; it is never a silent gap. Ephemeral events are
// sent without an id, so they do not move the client's resume position.
//
// Each frame is encoded once per event by the Handler's encoder and the same
// bytes are written to every connection. A connection holds no queue: it
// reads the broker's subscription cursor, writes what is there in one
// write, and waits. A client that stops reading is dropped after the write
// timeout, it never makes the server buffer without bound or slows the
// publisher.
//
// Cost model: a stream over HTTP/1.1 (no TLS, Linux) is taken from
// net/http once the request is validated (hijacked; the body ends when the
// connection closes) and becomes a task of the Handler's pump pool, woken
// by its subscription, by one heartbeat sweeper for all streams (a deadline
// scheduler: heartbeats and token expiries) and by an epoll poller that
// sees the client hang up. Writes are non-blocking from the pool's
// workers; what a socket does not take at once is finished by a goroutine
// that waits up to the write timeout, and the stream reads no further
// meanwhile. An idle stream thus holds no goroutine and no buffer: about
// 2 KB of process memory, against 28 KB on net/http's goroutines
// (bufio buffers, the handler and net/http's background reader). Streams
// over HTTP/2 are served on their request's goroutine. Close ends every stream with a retry hint, so EventSource
// reconnects (to another node, or to this one after a restart). A stream
// opened with an expiring token ends the same way, with a `: token expired`
// comment, at the token's deadline: the client must come back with a fresh
// token.
package sse
