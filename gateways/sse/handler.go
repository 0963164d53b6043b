package sse

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/conns"
	"github.com/rtbroker/rtbroker/gateways/internal/defaults"
	"github.com/rtbroker/rtbroker/gateways/internal/httpx"
	"github.com/rtbroker/rtbroker/gateways/internal/netpoll"
	"github.com/rtbroker/rtbroker/gateways/internal/pump"
	"github.com/rtbroker/rtbroker/gateways/presence"

	"github.com/rtbroker/rtbroker/broker"
)

// The defaults of Config's fields (a zero field takes its default). The
// command's flags default to these too.
const (
	// DefaultMaxRooms is Config.MaxRooms's default, the same for every
	// gateway (long-poll requests, Socket.IO sockets).
	DefaultMaxRooms = defaults.MaxRooms
	// DefaultRetry is Config.Retry's default.
	DefaultRetry = 2 * time.Second
	// DefaultHeartbeat is Config.Heartbeat's default.
	DefaultHeartbeat = 15 * time.Second
	// DefaultWriteTimeout is Config.WriteTimeout's default, the same for
	// every gateway (long-poll responses, Engine.IO WebSockets).
	DefaultWriteTimeout = defaults.WriteTimeout
)

// Config holds the SSE gateway's limits. Zero values take the defaults
// documented on each field.
type Config struct {
	// MaxRooms caps the room parameters of one request. Default
	// DefaultMaxRooms (32).
	MaxRooms int
	// Retry is the reconnection delay sent to the client (`retry:`) when
	// the stream opens. Default 2s.
	Retry time.Duration
	// ShutdownRetry is the reconnection delay sent when the stream ends
	// because of Close or broker shutdown; the client waits between
	// ShutdownRetry and twice that, so that clients of a closing node do
	// not all come back at the same instant. Default 500ms.
	ShutdownRetry time.Duration
	// Heartbeat is how long a stream may stay silent before a comment
	// (`: ping`) is written, which keeps proxies from closing it and finds
	// dead clients. Default 15s.
	Heartbeat time.Duration
	// WriteTimeout bounds every write to a client. A client that does not
	// read for this long is dropped. Default 10s.
	WriteTimeout time.Duration
	// BatchSize is how many committed events one read of the subscription
	// returns at most; they are written with one flush. Default 256.
	BatchSize int
	// Workers is how many goroutines serve the streams that left net/http
	// (see Handler). Default GOMAXPROCS.
	Workers int
	// Auth authenticates requests (token in the Authorization header, the
	// rtbroker_token cookie or ?token=) and must allow subscribing to every
	// room requested. Default auth.Open() (everyone allowed everything).
	Auth *auth.Authenticator
	// Presence, when set, counts each open stream as present in its rooms
	// until it ends. Default nil: not tracked.
	Presence *presence.Registry
	// Logger receives the detail of internal errors. Default slog.Default().
	Logger *slog.Logger
	// DeliveryLatency, when set, receives the sampled publish→deliver
	// latencies of the events written to streams (see conns.Deliveries).
	DeliveryLatency conns.Observer
	// MaxHistory caps the `history` parameter (each room's last events
	// the stream starts with); over it is 400 invalid_argument. Default
	// DefaultMaxHistory (1000).
	MaxHistory int
}

func (c *Config) setDefaults() {
	if c.MaxRooms <= 0 {
		c.MaxRooms = DefaultMaxRooms
	}
	if c.MaxHistory <= 0 {
		c.MaxHistory = DefaultMaxHistory
	}
	if c.Retry <= 0 {
		c.Retry = DefaultRetry
	}
	if c.ShutdownRetry <= 0 {
		c.ShutdownRetry = 500 * time.Millisecond
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.BatchSize <= 0 {
		c.BatchSize = broker.DefaultReadLimit
	}
	if c.Auth == nil {
		c.Auth = auth.Open()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Handler serves Server-Sent Event streams of room events. It is an
// http.Handler, safe for concurrent use.
//
// A stream over HTTP/1.1 without TLS (on Linux) leaves net/http: the
// handler hijacks the connection once the request is validated, writes
// the response head itself (the body ends when the connection closes),
// and the stream becomes a task of the handler's pump pool, woken by its
// subscription and by one heartbeat sweeper for all streams, so an idle
// stream holds no goroutine and no buffer. Other streams (HTTP/2) run on
// the goroutine net/http serves them on and start no other goroutine.
//
// The Handler does not own the Broker: call Close on the Handler before
// closing the Broker (closing the Broker first also ends every stream).
type Handler struct {
	b   *broker.Broker
	cfg Config
	enc *broker.Encoder // SSE frame of an event, cached on the event
	// bufs holds *[]byte batch buffers, borrowed for one batch at a time so
	// an idle stream holds none.
	bufs sync.Pool
	// scratch holds *scratch for the writes of hijacked streams.
	scratch sync.Pool

	t     *httpx.Tracker  // requests in flight, for Active and Close
	conns *conns.Registry // open streams, for the admin API

	deliveries conns.Deliveries // events and bytes written to streams, for Delivered

	pool   *pump.Pool      // runs hijacked streams
	poll   *netpoll.Poller // tells when a hijacked stream's client hangs up; nil where unsupported
	beats  beats           // heartbeat and token deadlines of hijacked streams
	ctx    context.Context // cancelled by Close once every stream ended
	cancel context.CancelFunc
	wg     sync.WaitGroup // the closing watcher and the flush goroutines
}

// New returns a Handler serving streams from b. cfg's zero fields take
// their defaults. It starts the pool and the heartbeat sweeper of
// hijacked streams; Close stops them.
func New(b *broker.Broker, cfg Config) *Handler {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	h := &Handler{
		b:      b,
		cfg:    cfg,
		enc:    broker.NewEncoder(encodeFrame),
		t:      httpx.NewTracker(),
		conns:  conns.New(conns.SSE),
		pool:   pump.New(cfg.Workers),
		ctx:    ctx,
		cancel: cancel,
	}
	h.deliveries.Latency = cfg.DeliveryLatency
	if p, err := netpoll.New(); err == nil {
		h.poll = p
	}
	h.beats.init(cfg.Heartbeat)
	h.wg.Go(h.watchClosing)
	return h
}

// Connections returns the open streams, for the admin API. Disconnecting
// one ends it as shutdown does: a short retry hint, then the end of the
// stream; EventSource reconnects with its Last-Event-ID.
func (h *Handler) Connections() *conns.Registry { return h.conns }

// Active returns how many requests the Handler is serving now (open
// streams, plus requests being answered with an error).
func (h *Handler) Active() int { return h.t.Active() }

// Close ends every stream: each one is sent a short retry hint and a
// `: shutdown` comment, flushed, and finished, so EventSource reconnects
// with its Last-Event-ID. Requests arriving afterwards get 503. Close waits
// until every stream has ended, which takes at most about WriteTimeout
// (a client that does not read is cut off), then stops the Handler's
// goroutines. Safe to call more than once and from any goroutine other
// than a request's.
func (h *Handler) Close() {
	h.t.Close()
	h.cancel()
	h.pool.Close()
	h.wg.Wait()
	h.beats.sched.Close()
	if h.poll != nil {
		h.poll.Close()
	}
}

// errShutdown is what a request gets once Close has begun.
var errShutdown = fmt.Errorf("sse gateway: %w", broker.ErrClosed)

// ServeHTTP serves GET ?room=R[&room=R2…][&after=N][&epoch=E][&history=K][&presence=1] as a
// text/event-stream; see the package documentation. A missing or invalid credential is answered with 401
// ("unauthorized"), a room the credential may not subscribe to with 403
// ("forbidden"), and so is presence=1 (the rooms' presence:join and
// presence:leave events) without the presence permission on every room.
// Bad input is answered
// with 400 (code "invalid_argument"), a closed gateway or broker with 503
// ("unavailable"), and other failures with 500 ("internal"), as a JSON body
// {"error":{"code","message"}} before the stream starts. Once the stream has
// started, it ends by returning; the client reconnects. A stream opened
// with a token that expires ends at the token's deadline (auth's Deadline:
// exp plus leeway) with a short `retry:` hint and a `: token expired`
// comment, so that EventSource reconnects with a fresh token (from its URL
// or cookie) and resumes with its Last-Event-ID.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !httpx.Begin(w, r, h.t, h.cfg.Logger, errShutdown) {
		return
	}
	detached := false
	defer func() {
		if !detached {
			h.t.End()
		}
	}()
	req, err := parseRequest(r.URL.Query(), r.Header.Get("Last-Event-ID"), h.cfg.MaxRooms)
	if err != nil {
		httpx.WriteError(w, r, h.cfg.Logger, err)
		return
	}
	history, err := parseHistory(r.URL.Query(), r.Header.Get("Last-Event-ID"), h.cfg.MaxHistory)
	if err != nil {
		httpx.WriteError(w, r, h.cfg.Logger, err)
		return
	}
	wantPresence, err := presence.ParseParam(r.URL.Query())
	if err != nil {
		httpx.WriteError(w, r, h.cfg.Logger, err)
		return
	}
	sub, id, err := httpx.Subscribe(h.b, h.cfg.Auth, r, req.rooms, req.from, req.live)
	if err != nil {
		httpx.WriteError(w, r, h.cfg.Logger, err)
		return
	}
	if wantPresence {
		if err := presence.OptIn(sub, id, req.rooms...); err != nil {
			sub.Close()
			httpx.WriteError(w, r, h.cfg.Logger, err)
			return
		}
	}
	if err := httpx.StartAtHistory(r.Context(), h.b, sub, req.rooms, history, req.live); err != nil {
		sub.Close()
		httpx.WriteError(w, r, h.cfg.Logger, err)
		return
	}
	expires := h.cfg.Auth.Deadline(id)
	e := h.conns.Add(conns.Conn{User: id.Subject, Remote: r.RemoteAddr, Sub: sub, Peer: conns.KickFunc(sub.Close)})
	r, after := httpx.Detachable(r) // a hijacked stream leaves when it ends
	defer after(h.cfg.Presence.EnterAll(req.rooms, id, presence.SSE))
	if h.hijack(w, r, sub, expires, e) {
		detached = true
		return
	}
	defer h.conns.Remove(e)
	defer sub.Close()
	s := &stream{h: h, w: w, rc: http.NewResponseController(w), sub: sub, expires: expires, conn: e}
	s.run(r.Context())
}
