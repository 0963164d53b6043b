// Package engineio is an Engine.IO protocol v4 server: the transport layer
// under Socket.IO. It speaks HTTP long-polling and WebSocket (its own
// handshake and frame reader and writer; RFC 6455 without extensions),
// upgrades a polling session to WebSocket with the 2probe/3probe/5
// sequence, keeps sessions alive with server pings, and enforces the
// payload and queue limits that keep memory bounded.
//
// A [Server] is an [net/http.Handler] for the engine path (mount it at
// "/engine.io/" or "/socket.io/"). Each new session is announced to the
// open callback given to [NewServer] as a [*Conn]; the callback installs
// the message and close callbacks ([Conn.OnMessage], [Conn.OnClose]) and
// may start sending. Messages of one connection are delivered one at a
// time, in order.
//
// Cost model: an idle WebSocket session holds no goroutine and no buffer.
// On Linux, the server's epoll poller watches its socket; when data
// arrives a task of the server's pump pool reads it without blocking,
// handles pongs and control frames itself, and passes messages to a
// deliverer goroutine that lives only while there are messages (the
// message callback may block). Sends write the socket at once, without
// blocking, when nothing is queued; a writer goroutine exists only while
// a socket does not take what is sent (a slow client), and writes all
// that is queued in one writev. Heartbeats of all sessions are driven by
// one goroutine and one timer. A polling session holds no goroutine
// between requests, nor while its GET waits: on Linux a waiting GET over
// HTTP/1.1 without TLS is hijacked and becomes a task of the pump pool,
// woken by the session (packets queued, an upgrade, the close) and by the
// poller when the client hangs up; after its answer the connection goes
// back to the HTTP server (Config.Requeue) or is closed (Connection:
// close). With Config.Requeue (and the server serving through a
// [Listener]), the keep-alive connection a client keeps for its POSTs
// waits in the poller too, off net/http, and is handed back to the HTTP
// server when its next request arrives. BenchmarkIdlePolling and the
// gateway's BenchmarkIdlePollingSession measure them. Elsewhere (or on connections that are not TCP) a
// goroutine reads each WebSocket session and a writer goroutine writes
// each batch. BenchmarkIdleConn measures the engine's part.
//
// Shutdown: a held poll lasts up to PingInterval, so register
// [Server.Close] with http.Server.RegisterOnShutdown (or call it right
// after Shutdown begins) to release held polls and WebSocket sessions at
// once.
//
// The package does not import the broker: it serves any open callback.
package engineio
