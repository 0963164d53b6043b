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
// flush, and waits. A client that stops reading is dropped after the write
// timeout, it never makes the server buffer without bound or slows the
// publisher. Close ends every stream with a retry hint, so EventSource
// reconnects (to another node, or to this one after a restart). A stream
// opened with an expiring token ends the same way, with a `: token expired`
// comment, at the token's deadline: the client must come back with a fresh
// token.
package sse
