// Package protocol is a Socket.IO protocol v5 server on top of the
// Engine.IO server of package engineio. It multiplexes namespaces over one
// engine connection, runs connect middleware, answers CONNECT with the
// session id (and the private session id used for connection state
// recovery), and carries events, acknowledgements and binary attachments
// both ways.
//
// Protocol values stay at this edge: event arguments are
// []json.RawMessage plus binary attachments [][]byte, and outgoing
// arguments are JSON-encoded here. A packet can be encoded once
// (EncodeEvent, or AppendHeader and AppendString for a caller's own
// encoder) and written to many sockets (Socket.WriteRaw) without copying,
// a packet with binary attachments too (as one multi-frame packet, see
// JoinFrames).
//
// The package knows nothing of the broker: the broker gateway (package
// socketio) and the conformance echo server of the official test suites
// are both written on its public API.
package protocol
