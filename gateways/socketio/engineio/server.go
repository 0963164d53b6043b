package engineio

import (
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtbroker/rtbroker/gateways/internal/deadline"
	"github.com/rtbroker/rtbroker/gateways/internal/httpx"
	"github.com/rtbroker/rtbroker/gateways/internal/netpoll"
	"github.com/rtbroker/rtbroker/gateways/internal/pump"
)

// Server is an Engine.IO v4 server and the [http.Handler] of the engine
// path. It is safe for concurrent use. Create it with NewServer and stop
// it with Close.
type Server struct {
	cfg    Config
	onOpen func(*Conn)
	log    *slog.Logger
	hb     *heartbeat
	done   chan struct{} // closed by Close: stops the heartbeat
	wg     sync.WaitGroup

	payloadPool sync.Pool // *[]byte: polling response bodies
	scratchPool sync.Pool // *frameScratch: WebSocket batch assembly
	readPool    sync.Pool // *[]byte: WebSocket frames being read (wsread.go)

	poll *netpoll.Poller              // watches idle WebSocket connections and held polling GETs; nil where unsupported
	pool *pump.Pool                   // reads WebSocket connections the poller found readable, answers held GETs
	held sync.WaitGroup               // held polling GETs (heldGet) not yet answered; Added with mu held while open
	idle *deadline.Scheduler[*parked] // IdleTimeout of parked connections; nil unless Config.Requeue and a poller

	// parked holds the keep-alive connections waiting in the poller (see
	// Config.Requeue); guarded by mu.
	parked map[*parked]struct{}

	mu     sync.Mutex // guards conns and closed
	conns  map[string]*Conn
	closed bool
}

// NewServer returns a Server that calls onOpen for every new session,
// before any message of it is delivered. onOpen runs on the handshake's
// HTTP handler goroutine; it should install the connection's callbacks
// (Conn.OnMessage, Conn.OnClose) and return promptly. The server starts
// its heartbeat goroutine and, on Linux, the poller and pool that read
// idle WebSocket connections; Close stops them.
func NewServer(cfg Config, onOpen func(c *Conn)) *Server {
	cfg.setDefaults()
	s := &Server{
		cfg:    cfg,
		onOpen: onOpen,
		log:    cfg.Logger,
		done:   make(chan struct{}),
		conns:  make(map[string]*Conn),
	}
	if p, err := netpoll.New(); err == nil {
		s.poll = p
		s.pool = pump.New(0)
		if cfg.Requeue != nil {
			s.parked = make(map[*parked]struct{})
			s.idle = deadline.New(deadline.Config{Tick: time.Second}, s.idleDue)
		}
	}
	s.hb = newHeartbeat(cfg.PingInterval, cfg.PingTimeout,
		(*Conn).sendPing,
		func(c *Conn) { c.finish(reasonPingTimeout, typeClose) })
	s.wg.Go(func() { s.hb.run(s.done) })
	return s
}

// Len returns the number of open sessions.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close closes every session (ReasonForcedClose), refuses new requests
// with HTTP 503, and waits for the server's goroutines and for the
// handlers of requests in progress to return (held polls are answered
// with a close packet at once). It must not be called from a Conn
// callback. Idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return
	}
	s.closed = true
	conns := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	close(s.done)
	for _, c := range conns {
		c.finish(reasonForcedClose, typeClose)
	}
	s.held.Wait() // their answers are written by the pool
	if s.idle != nil {
		s.closeParked()
		s.idle.Close()
	}
	if s.poll != nil {
		s.poll.Close()
		s.pool.Close() // the readers see their connection closed
	}
	s.wg.Wait()
}

// enter registers a request in progress; false once the server is closed.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *Server) lookup(sid string) *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[sid]
}

func (s *Server) remove(c *Conn) {
	s.mu.Lock()
	registered := s.conns[c.id] == c
	if registered {
		delete(s.conns, c.id)
	}
	s.mu.Unlock()
	s.hb.remove(c)
	if registered {
		c.release() // once: only the removal that found c registered (open released one it did not register)
	}
}

// ServeHTTP serves the engine path: handshakes, polling GET/POST and
// WebSocket upgrades. Invalid requests are answered with the Node.js
// server's JSON errors (see ErrorCode).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	}
	defer s.wg.Done()
	if s.cors(w, r) {
		return
	}
	transport := httpx.QueryValue(r.URL.RawQuery, "transport")
	if !s.cfg.allows(transport) {
		writeError(w, CodeUnknownTransport, "")
		return
	}
	upgrade := websocket.IsWebSocketUpgrade(r)
	if sid := httpx.QueryValue(r.URL.RawQuery, "sid"); sid != "" {
		s.serveSession(w, r, sid, transport, upgrade)
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, CodeBadHandshakeMethod, "")
		return
	}
	if upgrade != (transport == TransportWebSocket) {
		writeError(w, CodeBadRequest, "")
		return
	}
	if s.cfg.AllowRequest != nil {
		if err := s.cfg.AllowRequest(r); err != nil {
			writeError(w, CodeForbidden, err.Error())
			return
		}
	}
	if httpx.QueryValue(r.URL.RawQuery, "EIO") != "4" {
		writeError(w, CodeUnsupportedProtocolVersion, "")
		return
	}
	release := noRelease
	if s.cfg.Admit != nil {
		rel, ok := s.cfg.Admit(r)
		if !ok {
			writeErrorStatus(w, http.StatusTooManyRequests, CodeForbidden, "Too many connections")
			return
		}
		if rel != nil {
			release = rel // called once: by the failed handshake, open or remove
		}
	}
	if transport == TransportWebSocket {
		s.handshakeWebSocket(w, r, release)
	} else {
		s.handshakePolling(w, r, release)
	}
}

// serveSession serves a request for an existing session.
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request, sid, transport string, upgrade bool) {
	c := s.lookup(sid)
	if c == nil {
		writeError(w, CodeUnknownSID, "")
		return
	}
	if upgrade {
		if transport != TransportWebSocket {
			writeError(w, CodeBadRequest, "")
			return
		}
		s.upgradeSession(w, r, c)
		return
	}
	if c.Transport() != transport {
		writeError(w, CodeBadRequest, "")
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.servePoll(w, r, c)
	case http.MethodPost:
		s.servePost(w, r, c)
	default:
		writeError(w, CodeBadRequest, "")
	}
}

// newConn creates a session for the handshake request r.
// noRelease is the release of a session no Admit counted.
func noRelease() {}

func (s *Server) newConn(r *http.Request, transport string, release func()) *Conn {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return &Conn{
		srv:       s,
		id:        base64.RawURLEncoding.EncodeToString(b[:]),
		req:       newRequest(r, s.cfg.Keep),
		websocket: transport == TransportWebSocket,
		release:   release,
	}
}

// open registers c, starts its heartbeat and tells the handler. It
// returns false when the server is closed.
func (s *Server) open(c *Conn) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.release()
		return false
	}
	s.conns[c.id] = c
	s.mu.Unlock()
	s.hb.schedulePing(c)
	if s.onOpen != nil {
		s.onOpen(c)
	}
	return true
}

// upgrades lists the transports a session on transport may upgrade to.
func (s *Server) upgrades(transport string) []string {
	if transport == TransportPolling && s.cfg.allows(TransportWebSocket) {
		return []string{TransportWebSocket}
	}
	return nil
}

// cors writes the CORS headers for an allowed origin and answers
// preflight requests; it reports whether the request was answered.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	if len(s.cfg.AllowedOrigins) == 0 {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || !s.originAllowed(origin) {
		return false
	}
	h := w.Header()
	switch {
	case s.cfg.AllowCredentials:
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Add("Vary", "Origin")
	case s.wildcard():
		h.Set("Access-Control-Allow-Origin", "*")
	default:
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	}
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
		h.Set("Access-Control-Allow-Headers", rh)
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	h.Set("Access-Control-Max-Age", "86400")
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return true
}

func (s *Server) wildcard() bool {
	for _, o := range s.cfg.AllowedOrigins {
		if o == "*" {
			return true
		}
	}
	return false
}

func (s *Server) originAllowed(origin string) bool {
	for _, o := range s.cfg.AllowedOrigins {
		if o == "*" || o == origin {
			return true
		}
	}
	return false
}

// checkOrigin is the WebSocket handshake's origin check; see
// Config.CheckOrigin. A request with more than one Origin header is
// refused whatever the check: a browser sends one, and a check reads only
// the first.
func (s *Server) checkOrigin(r *http.Request) bool {
	if len(r.Header.Values("Origin")) > 1 {
		return false
	}
	if s.cfg.CheckOrigin != nil {
		return s.cfg.CheckOrigin(r)
	}
	if len(s.cfg.AllowedOrigins) == 0 {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" || s.originAllowed(origin) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}
