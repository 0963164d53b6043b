// Package socketio is a Socket.IO protocol v5 server on top of the
// Engine.IO server of package engineio. It multiplexes namespaces over one
// engine connection, runs connect middleware, answers CONNECT with the
// session id (and the private session id used for connection state
// recovery), and carries events, acknowledgements and binary attachments
// both ways.
//
// Protocol values stay at this edge: event arguments are
// []json.RawMessage plus binary attachments [][]byte, and outgoing
// arguments are JSON-encoded here. A packet can be encoded once
// (EncodeEvent) and written to many sockets (Socket.WriteRaw) without
// copying, a packet with binary attachments too (as one multi-frame
// packet). The broker gateway (Gateway) logs a client's attachments as
// the broker's {"$binary": base64} objects and sends those as
// attachments again (binary.go).
//
// The package does not import the broker; the broker mapping is written
// on top of its public API, like the conformance echo server.
package socketio
