// Package socketio is the broker's Socket.IO gateway: clients of the
// unmodified socket.io-client join rooms from an offset, publish by
// emitting events, receive the rooms' events from the log, and recover
// their session after a disconnect, also across a restart or a crash.
//
// It is glue between the Socket.IO protocol server (package protocol, on
// Engine.IO, package engineio) and the broker: each socket is a member
// (member.go) holding one broker.Subscription, the cursor that follows
// its rooms each from its own position, so a join or a leave is one call
// on the cursor. Session records for recovery live in the broker's keyed
// state store, never in the log (sessions.go); recovery.go argues why
// recovery is exact or refused. A client's binary attachments are logged
// as the broker's {"$binary": base64} objects and sent as attachments
// again (binary.go). Joins, leaves and publishes of one socket are
// handled in order off its reading goroutine (inflight.go), and sockets
// whose token expires are disconnected (expiry.go).
package socketio
