package engineio

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/rtbroker/rtbroker/gateways/internal/defaults"
)

// The defaults of Config's fields (a zero field takes its default). They
// are the Node.js server's, but for WriteTimeout, which Node does not have;
// the command's flags default to these too.
const (
	// DefaultPingInterval is Config.PingInterval's default.
	DefaultPingInterval = 25 * time.Second
	// DefaultPingTimeout is Config.PingTimeout's default.
	DefaultPingTimeout = 20 * time.Second
	// DefaultMaxPayload is Config.MaxPayload's default, in bytes.
	DefaultMaxPayload = 1_000_000
	// DefaultWriteTimeout is Config.WriteTimeout's default, the same for
	// every gateway (SSE streams, long-poll responses).
	DefaultWriteTimeout = defaults.WriteTimeout
	// DefaultIdleTimeout is Config.IdleTimeout's default, net/http's
	// common choice for a keep-alive connection between requests.
	DefaultIdleTimeout = 2 * time.Minute
)

// Transport names, as used in the "transport" query parameter.
const (
	TransportPolling   = "polling"
	TransportWebSocket = "websocket"
)

// Close reasons passed to the [Conn.OnClose] callback. They are the
// strings the Node.js server uses, so upper layers can pass them on.
const (
	ReasonTransportClose = "transport close" // the client closed the transport or sent a close packet
	ReasonTransportError = "transport error" // a transport failed (I/O error, overlapping polls, aborted poll)
	ReasonPingTimeout    = "ping timeout"    // no pong within PingTimeout after a ping
	ReasonParseError     = "parse error"     // the client sent an invalid packet
	ReasonForcedClose    = "forced close"    // the server closed the session (Conn.Close or Server.Close)
	ReasonSlowClient     = "slow client"     // the queued writes exceeded WriteBufferLimit
)

// closeReason is a close reason as a Conn keeps it: a byte beside its
// flags instead of a string's two words. The zero value is "" (open).
type closeReason uint8

const (
	reasonTransportClose closeReason = iota + 1
	reasonTransportError
	reasonPingTimeout
	reasonParseError
	reasonForcedClose
	reasonSlowClient
)

// String returns the reason's name, one of the Reason constants.
func (r closeReason) String() string {
	switch r {
	case reasonTransportClose:
		return ReasonTransportClose
	case reasonTransportError:
		return ReasonTransportError
	case reasonPingTimeout:
		return ReasonPingTimeout
	case reasonParseError:
		return ReasonParseError
	case reasonForcedClose:
		return ReasonForcedClose
	case reasonSlowClient:
		return ReasonSlowClient
	}
	return ""
}

// Config configures a [Server]. Zero values take the defaults documented
// on each field; a Config is copied by NewServer and must not be changed
// afterwards.
type Config struct {
	// PingInterval is how long the server waits after a pong (or the
	// handshake) before sending the next ping. Default 25s.
	PingInterval time.Duration
	// PingTimeout is how long the server waits for the pong after a ping
	// before closing the session with ReasonPingTimeout. Default 20s.
	PingTimeout time.Duration
	// MaxPayload caps, in bytes, a polling request body and a WebSocket
	// message from the client; it is announced in the handshake.
	// Default 1,000,000.
	MaxPayload int64
	// UpgradeTimeout bounds the WebSocket upgrade of a polling session
	// (from the WebSocket connection to the "5" packet). Default 10s.
	UpgradeTimeout time.Duration
	// Transports lists the allowed transports, TransportPolling and/or
	// TransportWebSocket. Default both.
	Transports []string
	// AllowedOrigins enables CORS for polling requests. Empty (the
	// default): no CORS headers are sent. Otherwise a list of exact
	// origins ("https://app.example.com"), or "*" for any origin.
	AllowedOrigins []string
	// AllowCredentials makes CORS responses echo the exact request origin
	// with Access-Control-Allow-Credentials: true (never "*").
	AllowCredentials bool
	// CheckOrigin decides whether a WebSocket upgrade request is accepted.
	// Default: any request when AllowedOrigins is empty; otherwise requests
	// without an Origin header, from an allowed origin, or from the same
	// host.
	CheckOrigin func(r *http.Request) bool
	// AllowRequest, when set, is asked about every handshake request; a
	// non-nil error refuses it with HTTP 403 and the error's text as the
	// message (code 4, "Forbidden" when the text is empty).
	AllowRequest func(r *http.Request) error
	// Admit, when set, is asked about every handshake request that passed
	// the other checks, before a session is created; false refuses it with
	// HTTP 429 ({"code":4,"message":"Too many connections"}). Otherwise
	// release (which may be nil) is called once when the session ends, or
	// at once if none is created. Use it to cap sessions per client.
	Admit func(r *http.Request) (release func(), ok bool)
	// Keep, when set, is called with every handshake request that opens a
	// session; the session keeps what it returns as Request.Kept, and
	// nothing else of the request's headers and query: a server that
	// needs one value of them, such as a credential, keeps that and not
	// the kilobyte of a browser's headers. The value must not share memory
	// with r: clone the strings taken from it (their bytes share an array
	// with the other headers'). Default nil: nothing is kept.
	Keep func(r *http.Request) any
	// WriteBufferLimit caps the bytes queued for one connection and not
	// yet written. A connection over the limit is closed with
	// ReasonSlowClient. A single message larger than the limit is accepted
	// when nothing else is queued. Default 1 MiB.
	WriteBufferLimit int
	// WriteTimeout bounds one write to a WebSocket connection. Default 10s.
	WriteTimeout time.Duration
	// Logger receives connection-level diagnostics. Default slog.Default().
	Logger *slog.Logger
	// Requeue, when set, hands a connection back to the HTTP server, as
	// if it had just been accepted (a listener that also returns the
	// connections given to it; it reports false when the server no
	// longer accepts). With it, a polling session's keep-alive connection
	// that is idle after a POST leaves net/http (hijacked) and waits in
	// the engine's poller, without a goroutine or a buffer, until the
	// client sends its next request on it; then it is requeued. Only
	// HTTP/1.1 connections without TLS, on Linux. Default nil: idle
	// connections stay with net/http.
	Requeue func(net.Conn) bool
	// IdleTimeout closes a connection waiting in the poller (see Requeue)
	// after this long, as http.Server.IdleTimeout does. Default
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.UpgradeTimeout <= 0 {
		c.UpgradeTimeout = 10 * time.Second
	}
	if len(c.Transports) == 0 {
		c.Transports = []string{TransportPolling, TransportWebSocket}
	}
	if c.WriteBufferLimit <= 0 {
		c.WriteBufferLimit = 1 << 20
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) allows(transport string) bool {
	for _, t := range c.Transports {
		if t == transport {
			return true
		}
	}
	return false
}

// Request describes the HTTP request that opened a session (the
// handshake). It is immutable: callers may read it from any goroutine and
// must not modify it. Of the request's headers and query (its Host and
// TLS state included) a session keeps only what Config.Keep takes from
// them: two words each, a Request fills the 32-byte size class.
type Request struct {
	// RemoteAddr is the network address of the client, "IP:port".
	RemoteAddr string
	// Kept is what Config.Keep returned for the handshake request, or nil.
	Kept any
}

// newRequest returns what a session keeps of its handshake request r.
func newRequest(r *http.Request, keep func(*http.Request) any) *Request {
	req := &Request{RemoteAddr: r.RemoteAddr}
	if keep != nil {
		req.Kept = keep(r)
	}
	return req
}
