package protocol

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
)

// Config configures a Server. Zero values take the defaults documented on
// each field. NewServer copies it.
type Config struct {
	// Engine configures the Engine.IO layer (heartbeat, payload limits,
	// CORS, transports). Its Logger defaults to Logger.
	Engine engineio.Config
	// ConnectTimeout closes an engine connection that has not connected to
	// any namespace within it. Default 45s.
	ConnectTimeout time.Duration
	// MaxAttachments caps the binary attachments of one incoming packet.
	// Default 10.
	MaxAttachments int
	// AckTimeout bounds Socket.EmitWithAck when its context has no
	// deadline. Default 30s.
	AckTimeout time.Duration
	// Logger receives diagnostics. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 45 * time.Second
	}
	if c.MaxAttachments <= 0 {
		c.MaxAttachments = 10
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Engine.Logger == nil {
		c.Engine.Logger = c.Logger
	}
}

// Server is a Socket.IO v5 server and the http.Handler of its path
// (mount it at "/socket.io/"). It is safe for concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	engine *engineio.Server

	mu   sync.RWMutex // guards nsps
	nsps map[string]*Namespace
}

// NewServer returns a Server with its main namespace "/" and starts its
// engine (see engineio.NewServer). Register namespaces and handlers
// before serving requests; stop it with Close.
func NewServer(cfg Config) *Server {
	cfg.setDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, nsps: make(map[string]*Namespace)}
	s.Of("/")
	s.engine = engineio.NewServer(cfg.Engine, s.onOpen)
	return s
}

// ServeHTTP serves the Engine.IO transports of the server.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.engine.ServeHTTP(w, r)
}

// Engine returns the Engine.IO server underneath (for metrics such as
// Len).
func (s *Server) Engine() *engineio.Server { return s.engine }

// Close closes every connection (sockets see the reason "forced close")
// and waits for the server's goroutines, including disconnect handlers.
func (s *Server) Close() { s.engine.Close() }

// Of returns the namespace with the given name ("/chat"; a missing
// leading slash is added), creating it on first use.
func (s *Server) Of(name string) *Namespace {
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.nsps[name]; ok {
		return n
	}
	n := &Namespace{srv: s, name: name, sockets: make(map[string]*Socket)}
	s.nsps[name] = n
	return n
}

func (s *Server) namespace(name string) *Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nsps[name]
}

// Namespace is a Socket.IO namespace: its middleware, connect handlers and
// connected sockets. It is safe for concurrent use; register middleware
// and handlers before serving.
type Namespace struct {
	srv  *Server
	name string

	mu          sync.RWMutex // guards the fields below
	middlewares []func(*Socket) error
	onConnect   []func(*Socket)
	sockets     map[string]*Socket
}

// Name returns the namespace name, e.g. "/" or "/chat".
func (n *Namespace) Name() string { return n.name }

// Use adds connect middleware. Middleware runs in order for every CONNECT
// to the namespace, on the connection's reading goroutine, before the
// socket is connected: it may read Socket.Auth and Socket.Request, and
// call Socket.Restore and Socket.SetPID. A non-nil error refuses the
// connection with a CONNECT_ERROR packet {"message":…,"data":…}: a
// *ConnectError supplies both, any other error its Error() text as the
// message.
func (n *Namespace) Use(fn func(s *Socket) error) {
	n.mu.Lock()
	n.middlewares = append(n.middlewares, fn)
	n.mu.Unlock()
}

// OnConnect adds a handler called, on the connection's reading goroutine,
// for each connected socket, after the CONNECT answer was queued. It is
// the place to install the socket's event and disconnect handlers.
func (n *Namespace) OnConnect(fn func(s *Socket)) {
	n.mu.Lock()
	n.onConnect = append(n.onConnect, fn)
	n.mu.Unlock()
}

// Len returns the number of connected sockets.
func (n *Namespace) Len() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.sockets)
}

// Socket returns the connected socket with the given id, or nil.
func (n *Namespace) Socket(id string) *Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sockets[id]
}

func (n *Namespace) handlers() ([]func(*Socket) error, []func(*Socket)) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.middlewares, n.onConnect
}

// ConnectError refuses a namespace connection from middleware with a
// message and optional JSON-encodable data, sent to the client as
// CONNECT_ERROR {"message":Message,"data":Data}.
type ConnectError struct {
	Message string
	Data    any
}

// Error returns the message.
func (e *ConnectError) Error() string { return e.Message }

// ErrReconnect, returned (or wrapped) by middleware, closes the client's
// connection instead of answering its CONNECT: for a CONNECT that cannot
// be decided now but can later (the server cannot read what it needs
// yet). socket.io-client then reconnects by itself, with its backoff, and
// sends its CONNECT again (with the same auth, pid and offset); a
// CONNECT_ERROR would stop it until the application calls connect().
var ErrReconnect = errors.New("socketio: close the connection; the client is to reconnect")

// connectErrorPayload encodes the CONNECT_ERROR payload for err.
func connectErrorPayload(err error) []byte {
	ce := &ConnectError{Message: err.Error()}
	errors.As(err, &ce)
	dst := append([]byte(`{"message":`), AppendString(nil, ce.Message)...)
	if ce.Data != nil {
		if b, _, err := appendArg(nil, ce.Data, nil); err == nil {
			dst = append(dst, `,"data":`...)
			dst = append(dst, b...)
		}
	}
	return append(dst, '}')
}
