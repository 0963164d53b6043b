// Package engineio is an Engine.IO protocol v4 server: the transport layer
// under Socket.IO. It speaks HTTP long-polling and WebSocket (on
// github.com/gorilla/websocket), upgrades a polling session to WebSocket
// with the 2probe/3probe/5 sequence, keeps sessions alive with server
// pings, and enforces the payload and queue limits that keep memory
// bounded.
//
// A [Server] is an [net/http.Handler] for the engine path (mount it at
// "/engine.io/" or "/socket.io/"). Each new session is announced to the
// open callback given to [NewServer] as a [*Conn]; the callback installs
// the message and close callbacks ([Conn.OnMessage], [Conn.OnClose]) and
// may start sending. Messages of one connection are delivered one at a
// time, in order.
//
// Cost model: a WebSocket session holds one reader goroutine (owned by the
// Server; the upgrading HTTP handler returns so that net/http frees its
// per-request buffers), a 1 KiB read buffer and no write buffer while idle,
// about 9 KiB in all (BenchmarkIdleConn). A writer goroutine exists only
// while the session has queued messages, and it writes everything queued
// in one writev. Heartbeats of all sessions are driven by one goroutine
// and one timer. A polling session holds no goroutine between requests.
//
// Shutdown: a held poll lasts up to PingInterval, so register
// [Server.Close] with http.Server.RegisterOnShutdown (or call it right
// after Shutdown begins) to release held polls and WebSocket sessions at
// once.
//
// The package does not import the broker: it serves any open callback.
package engineio
