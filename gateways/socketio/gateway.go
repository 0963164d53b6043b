package socketio

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/conns"
	"github.com/rtbroker/rtbroker/gateways/internal/deadline"
	"github.com/rtbroker/rtbroker/gateways/internal/httpx"
	"github.com/rtbroker/rtbroker/gateways/internal/pump"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
	"github.com/rtbroker/rtbroker/gateways/limit"
	"github.com/rtbroker/rtbroker/gateways/messages"
	"github.com/rtbroker/rtbroker/gateways/presence"
	"github.com/rtbroker/rtbroker/gateways/receipts"
	"github.com/rtbroker/rtbroker/gateways/socketio/protocol"
	"github.com/rtbroker/rtbroker/gateways/typing"
)

// GatewayConfig configures the broker gateway. Zero values take the
// documented defaults.
type GatewayConfig struct {
	// Server configures the Socket.IO and Engine.IO layers.
	Server protocol.Config
	// Namespaces served; default one, "/". Each has its own rooms: a room
	// R of a namespace is the log room RoomPrefix+R.
	Namespaces []NamespaceConfig
	// MaxRooms caps the rooms one socket may join. Default DefaultMaxRooms.
	MaxRooms int
	// BatchSize is how many events a socket's subscription reads at once.
	// Default 256.
	BatchSize int
	// Workers is how many goroutines deliver events to the sockets (each
	// socket is a task scheduled when its rooms have news; an idle socket
	// holds none). Default GOMAXPROCS.
	Workers int
	// RecoveryWindow is how long a session stays recoverable after its
	// record was last written (at connect, join, leave and disconnect):
	// its record in the broker's state store expires then. Default
	// DefaultRecoveryWindow.
	RecoveryWindow time.Duration
	// PublishTimeout bounds a publish from a socket; default
	// DefaultPublishTimeout.
	PublishTimeout time.Duration
	// MaxPending caps the joins, leaves and publishes of one socket that
	// await their ack (publishes wait for their commit). Over it, an event
	// that asks for an ack is acked {ok: false, error: {code:
	// "rate_limited"}} at once and the connection stays; one that asks
	// for none waits for a slot (the connection's reading pauses).
	// Default 64.
	MaxPending int
	// ExpiryInterval is how often the gateway disconnects the sockets
	// whose token has expired (see Gateway). Default 1 s.
	ExpiryInterval time.Duration
	// Auth authenticates sockets at CONNECT (the token is the CONNECT
	// payload's auth.token, else the handshake's Authorization header,
	// rtbroker_token cookie or ?token=) and decides which log rooms they
	// may join and publish to; the `from` of what a socket publishes is
	// its identity's subject. Default auth.Open() (everyone allowed
	// everything).
	Auth *auth.Authenticator
	// PublishLimit caps how fast an identity publishes (see
	// limit.PublishKey); over it, the publish is acked {ok: false, error:
	// {code: "rate_limited"}} and the connection stays. Default nil: no
	// limit.
	PublishLimit *limit.Buckets
	// AllowedOrigins lists the origins ("https://app.example.com", or "*"
	// for any but "null") whose pages may use Socket.IO cross-site, as the
	// HTTP gateways allow them (httpx.Origins): polling responses to an
	// allowed origin echo it in Access-Control-Allow-Origin with
	// Access-Control-Allow-Credentials: true and Vary: Origin, preflights
	// are answered; a WebSocket upgrade whose Origin is another host's and
	// not listed is refused with 403. Default none: same-site only. A
	// CheckOrigin or AllowedOrigins set in Server.Engine replaces this
	// WebSocket check.
	AllowedOrigins []string
	// Presence, when set, tracks the sockets in each room they joined
	// and answers room:presence {room} (see presence.go). Default nil:
	// not tracked, and room:presence answers an empty room.
	Presence *presence.Registry
	// Logger receives diagnostics. Default slog.Default().
	Logger *slog.Logger
	// Receipts keeps read positions and counts unread events (room:read,
	// me:rooms); share it with the other gateways. Default: a
	// receipts.Service of its own on the broker.
	Receipts *receipts.Service
	// Typing tracks typists and stops them when they go silent or
	// disconnect (see typing.go); shared with the HTTP API so that an
	// ephemeral typing:start published there expires the same way. Its
	// owner closes it after the gateway. Default nil: the gateway makes
	// one with typing's defaults and closes it in Close.
	Typing *typing.Tracker
	// DeliveryLatency, when set, receives the sampled publish→deliver
	// latencies of the events written to sockets (see conns.Deliveries).
	DeliveryLatency conns.Observer
	// MaxHistory caps room:join's `history` (how many of the room's last
	// events are sent before the live ones); over it the join is acked
	// invalid_argument. Default DefaultMaxHistory (1000).
	MaxHistory int
	// Messages makes the edits and deletes of message:edit and
	// message:delete (see messages.go); share one with the other
	// gateways. Default: a Service of its own, without a moderator role.
	Messages *messages.Service
}

// NamespaceConfig is one namespace of the gateway.
type NamespaceConfig struct {
	// Name is the namespace, "/" or "/name".
	Name string
	// RoomPrefix is prepended to room names to make log room names.
	// Default "" for "/", and the name without its slash plus ":" for
	// others ("/admin" → "admin:"); see LogPrefix.
	RoomPrefix string
	// Role, when set, is required to connect to the namespace (like a
	// Socket.IO middleware checking the user's role): a socket whose token
	// does not grant it (auth.Identity.HasRole) is refused with
	// connect_error {message: "forbidden", data: {code: "forbidden",
	// message}}, and an anonymous one with "unauthorized". API keys are
	// let in (their scope still decides what they may do). Other
	// namespaces on the same connection are not affected.
	Role string
	// AutoJoin lists rooms of the namespace (client room names, in which
	// {sub} is the token's subject, as in "user:{sub}") that every socket
	// authenticated by a token is joined to when it connects with a new
	// session, from the log's head, so that what is published to them
	// reaches every connection of that user. A recovered session keeps the
	// rooms it had (including these, unless it left them) and is not
	// joined again. Rooms that are not valid names for this subject are
	// skipped. The socket needs no subscribe permission for them.
	AutoJoin []string
}

// LogPrefix is what the namespace puts before a room name to make its
// log room name: RoomPrefix, or its default.
func (nc NamespaceConfig) LogPrefix() string {
	if nc.RoomPrefix != "" || nc.Name == "/" {
		return nc.RoomPrefix
	}
	return strings.TrimPrefix(nc.Name, "/") + ":"
}

// DefaultRecoveryWindow is how long a Socket.IO session stays recoverable
// by default: a day, where Node's in-memory recovery keeps two minutes. A
// record costs about half a kilobyte of the data file.
const DefaultRecoveryWindow = 24 * time.Hour

// DefaultPublishTimeout bounds a publish from a socket by default.
const DefaultPublishTimeout = 10 * time.Second

func (c *GatewayConfig) setDefaults() {
	if len(c.Namespaces) == 0 {
		c.Namespaces = []NamespaceConfig{{Name: "/"}}
	}
	if c.MaxRooms <= 0 {
		c.MaxRooms = DefaultMaxRooms
	}
	if c.BatchSize <= 0 {
		c.BatchSize = broker.DefaultReadLimit
	}
	if c.RecoveryWindow <= 0 {
		c.RecoveryWindow = DefaultRecoveryWindow
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.MaxHistory <= 0 {
		c.MaxHistory = DefaultMaxHistory
	}
	if c.ExpiryInterval <= 0 {
		c.ExpiryInterval = time.Second
	}
	if c.Auth == nil {
		c.Auth = auth.Open()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Server.Logger == nil {
		c.Server.Logger = c.Logger
	}
	origins := httpx.NewOrigins(c.AllowedOrigins)
	if e := &c.Server.Engine; e.CheckOrigin == nil && len(e.AllowedOrigins) == 0 {
		e.CheckOrigin = func(r *http.Request) bool { return origins.SameSiteOrAllowed(r.Header.Get("Origin"), r.Host) }
	}
	// A session keeps its handshake's credential, not its headers: a
	// browser's cost an idle socket about 900 bytes.
	c.Server.Engine.Keep = keepCredential
}

// handshakeCredential is the credential of a session's handshake request
// (see httpx.Credential), what the session keeps of its headers and query.
type handshakeCredential struct {
	value string
	src   httpx.Source
}

// keepCredential is the engine's Keep: the handshake request's credential,
// cloned out of the request's header bytes.
func keepCredential(r *http.Request) any {
	cred, src := httpx.Credential(r.Header, r.URL.RawQuery)
	if src == httpx.FromNone {
		return nil
	}
	return &handshakeCredential{value: strings.Clone(cred), src: src}
}

// Gateway serves the broker over Socket.IO: clients join rooms from an
// offset, publish by emitting events, receive the rooms' events from the
// log, and recover their session after a disconnect (also across a
// restart). It is an http.Handler for /socket.io/ and safe for concurrent
// use. Close it before the broker.
//
// Client events:
//
//	room:join  {room, after?, epoch?, history?, presence?}
//	                           ack {ok, room, head, epoch, recovered, start[, reset][, presence]}
//	                           (joining a room the socket is already in
//	                           changes nothing: nothing is sent twice;
//	                           history: N sends the room's last N events
//	                           first, from whichever of it and after is
//	                           later; start: the room's events after it
//	                           are sent; presence: true sends the
//	                           room's presence:join and presence:leave,
//	                           forbidden without the presence permission)
//	room:leave {room}          ack {ok, room}
//	room:read {room, offset}   ack {ok, room, offset, moved} (receipts.go)
//	me:rooms                   ack {ok, rooms, truncated} (receipts.go)
//	room:presence {room}       ack {ok, room, count, anonymous, listed, members}
//	                           (see GatewayConfig.Presence)
//	typing:start {room} / typing:stop {room}
//	                           ephemeral, to the room's other subscribers;
//	                           the server stops silent and disconnected
//	                           typists (typing.go); ack {ok, ephemeral: true}
//	message:edit {room, id, offset, data}, message:delete {room, id, offset}
//	                           ack {ok, offset, id} of the change event (messages.go)
//	<type>     {room, ...data[, ephemeral: true]}
//	                           ack {ok, offset, id} once durable
//	                           ({ok, ephemeral: true} for ephemeral events)
//
// Errors are acked {ok: false, error: {code, message}}; the connection
// stays. An event sent without an ack that fails is answered with an
// ErrorEvent ("error": {code, message, event}) instead: never a silent
// drop. A socket's events are handled in the order it sent them (its
// publishes are logged in that order) without waiting for each other's
// commit; at most MaxPending await their ack, and an event over that is
// acked with code "rate_limited" at once. A join or publish the socket's identity is not allowed is acked
// with code "forbidden". A missing or invalid token (where one is required)
// refuses the CONNECT: connect_error {message: "unauthorized", data: {code:
// "unauthorized", message: reason}}; so does a namespace's Role, with
// "forbidden" for a token without the role (see NamespaceConfig). Sockets
// with a token are joined to their namespace's AutoJoin rooms when their
// session is new. Permissions are checked on log room names (room R of
// /admin is admin:R), as SSE and long-poll check them.
// A socket authenticated with a token that has an exp is disconnected
// (a DISCONNECT packet: "io server disconnect" in socket.io-client, which
// does not reconnect by itself) within ExpiryInterval of the moment the
// token stops being accepted (auth.Authenticator.Deadline: exp plus the
// leeway); the client reconnects with a fresh token and its session
// recovers. Subscribers receive socket.on(type, (data, meta, token)) with
// meta {room, offset, id, time, from}; token is the recovery offset
// token socket.io-client keeps.
type Gateway struct {
	deliveries conns.Deliveries // events and bytes written to sockets, for Delivered

	b        *broker.Broker
	cfg      GatewayConfig
	log      *slog.Logger
	srv      *protocol.Server
	handler  http.Handler // srv behind the CORS of GatewayConfig.AllowedOrigins
	sessions *sessions
	pool     *pump.Pool // runs the members' deliveries

	receipts *receipts.Service // GatewayConfig.Receipts or the gateway's own
	msgs     *messages.Service // GatewayConfig.Messages: edits and deletes

	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup // the session confirmer, the expiry ticker, command and ack goroutines
	closeOnce sync.Once

	typing     *typing.Tracker // typists of every socket (typing.go)
	ownsTyping bool            // typing was made by New: Close closes it

	conns      *conns.Registry                    // the connected sockets, for the admin API
	recoveries [len(recoveryReasons)]atomic.Int64 // connection state recoveries by outcome (recovery_stats.go)

	// mu guards expiries. (The members are their sockets' handlers, and
	// conns lists them: no map of its own.)
	mu       sync.Mutex
	expiring *deadline.Scheduler[*member] // the members whose identity expires (newExpiries)
	// expiries are the entries in expiring, of the members whose identity
	// expires (few: a member keeps no field for it). Guarded by mu.
	expiries map[*member]*deadline.Entry[*member]
	presence *sioPresence // the members' presence in their rooms
}

// gwNamespace is a namespace of the gateway.
type gwNamespace struct {
	g        *Gateway
	name     string
	prefix   string
	role     string          // required to connect; "" none
	autoJoin []string        // client rooms ({sub} patterns) joined at connect
	enc      *broker.Encoder // the live packet of an event, shared by every socket
}

// New returns a gateway serving b.
func New(b *broker.Broker, cfg GatewayConfig) *Gateway {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{
		b: b, cfg: cfg, log: cfg.Logger,
		srv:      protocol.NewServer(cfg.Server),
		sessions: newSessions(b, cfg.RecoveryWindow, cfg.Logger),
		pool:     pump.New(cfg.Workers),
		ctx:      ctx, cancel: cancel,
		conns:    conns.New(conns.SocketIO),
		expiring: newExpiries(cfg.ExpiryInterval),
		presence: newSIOPresence(cfg.Presence),
	}
	g.deliveries.Latency = cfg.DeliveryLatency
	g.handler = httpx.NewOrigins(cfg.AllowedOrigins).CORS(g.srv)
	if g.receipts = cfg.Receipts; g.receipts == nil {
		g.receipts = receipts.New(b, receipts.Config{})
	}
	g.initTyping()
	if g.msgs = cfg.Messages; g.msgs == nil {
		g.msgs = messages.New(b, messages.Config{})
	}
	for _, nc := range cfg.Namespaces {
		ns := &gwNamespace{g: g, name: nc.Name, prefix: nc.LogPrefix(), role: nc.Role, autoJoin: nc.AutoJoin}
		ns.enc = broker.NewEncoder(func(ev *broker.Event) []byte {
			return ns.encode(ev, token{offset: ev.Offset})
		})
		nsp := g.srv.Of(nc.Name)
		nsp.Use(func(s *protocol.Socket) error { return g.connect(ns, s) })
		nsp.OnConnect(g.onConnect)
	}
	g.wg.Go(func() { g.sessions.confirm(ctx) })
	g.wg.Go(g.expire)
	return g
}

// Sockets returns how many sockets are connected, over all namespaces.
func (g *Gateway) Sockets() int { return g.conns.Len() }

// Connections returns the connected sockets, for the admin API.
// Disconnecting one closes its Engine.IO connection, as a lost network
// does: socket.io-client reconnects by itself and its session recovers
// (the client's "disconnect" reason is "transport close").
func (g *Gateway) Connections() *conns.Registry { return g.conns }

// Server returns the underlying Socket.IO server.
func (g *Gateway) Server() *protocol.Server { return g.srv }

// ServeHTTP serves the Engine.IO transports.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.handler.ServeHTTP(w, r) }

// Close disconnects every client (they reconnect and recover elsewhere or
// after a restart) and waits for the gateway's goroutines. Safe to call
// more than once.
func (g *Gateway) Close() {
	g.closeOnce.Do(func() {
		g.srv.Close() // every socket disconnects: its member ends
		g.cancel()
		g.pool.Close() // the members close their subscriptions
		g.wg.Wait()
		g.closeTyping()
	})
}

// logRoom maps a client room name to its log room, validating both.
func (ns *gwNamespace) logRoom(room string) (string, error) {
	if err := broker.ValidatePublicRoom(room); err != nil {
		return "", err
	}
	logRoom := ns.prefix + room
	if err := broker.ValidateRoom(logRoom); err != nil {
		return "", err
	}
	return logRoom, nil
}

// encode returns the EVENT packet of ev for this namespace, built in one
// allocation: [type, data, meta] and, for a logged event, the offset token
// t (whose offset is ev's). An event whose data holds bytes is a
// BINARY_EVENT, as a multi-frame packet (see binary.go).
func (ns *gwNamespace) encode(ev *broker.Event, t token) []byte {
	refs := eventBinary(ev)
	b := make([]byte, 0, len(ns.name)+ev.JSONSize()+48)
	if refs == nil {
		b = protocol.AppendHeader(b, protocol.PacketEvent, 0, ns.name, false, 0)
	} else {
		b = protocol.AppendHeader(b, protocol.PacketBinaryEvent, len(refs), ns.name, false, 0)
	}
	b = append(b, '[')
	b = protocol.AppendString(b, ev.Type)
	if len(ev.Data) == 0 {
		b = append(b, ",null"...)
	} else {
		b = append(b, ',')
		b = appendPlaceholders(b, ev.Data, refs)
	}
	b = append(b, `,{"room":`...)
	b = broker.AppendJSONString(b, ns.clientRoom(ev.Room))
	if ev.Offset != 0 {
		b = append(b, `,"offset":`...)
		b = strconv.AppendUint(b, ev.Offset, 10)
	} else {
		b = append(b, `,"ephemeral":true`...)
	}
	b = append(b, `,"id":"`...)
	b = broker.AppendID(b, ev.ID)
	b = append(b, `","time":"`...)
	b = ev.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","from":`...)
	b = broker.AppendJSONString(b, ev.From)
	b = append(b, '}')
	if ev.Offset != 0 {
		b = append(b, ',', '"')
		b = appendToken(b, t)
		b = append(b, '"')
	}
	return appendAttachments(append(b, ']'), refs)
}

// connect is the namespace middleware: it authenticates the client and
// checks the namespace's role, then recovers its session when its pid and
// offset token allow an exact recovery (and the identity may still
// subscribe to every room of it), and otherwise starts a new one, joined
// to the namespace's auto-join rooms. Either way the session record is
// queued for commit before CONNECT is answered (see saveBehind).
func (g *Gateway) connect(ns *gwNamespace, s *protocol.Socket) error {
	var hs struct {
		PID    string `json:"pid"`
		Offset any    `json:"offset"`
		Token  any    `json:"token"`
	}
	json.Unmarshal(s.Auth(), &hs) // a malformed auth payload just means no recovery (and no token)
	id, err := g.authenticate(s, hs.Token)
	if err != nil {
		_, _, msg := wire.Classify(err)
		return &protocol.ConnectError{Message: wire.CodeUnauth, Data: wire.ErrorBody{Code: wire.CodeUnauth, Message: msg}}
	}
	if err := ns.admit(id); err != nil {
		e := wire.NewErrorBody(err)
		return &protocol.ConnectError{Message: e.Code, Data: e}
	}
	ctx, cancel := context.WithTimeout(g.ctx, g.cfg.PublishTimeout)
	defer cancel()
	m, err := g.session(ctx, ns, s, id, hs.PID, hs.Offset)
	if errors.Is(err, protocol.ErrReconnect) {
		return err
	}
	if err != nil {
		g.log.Error("socketio: start session", "err", err)
		return unavailable
	}
	m.saved = g.sessions.clock()
	if err := g.sessions.saveBehind(ctx, m.record(m.rec)); err != nil {
		m.sub.Close()
		g.log.Error("socketio: save session", "err", err)
		return unavailable
	}
	entry := g.conns.Add(conns.Conn{Namespace: ns.name, User: id.Subject, Remote: s.Request().RemoteAddr, Sub: m.sub,
		Peer: s.Conn()}) // the engine connection: no closures
	g.mu.Lock()
	g.watchExpiry(m)
	g.mu.Unlock()
	g.presence.sync(m) // the auto-joined or recovered rooms
	// Set here, not in onConnect: it also releases the member when the
	// connection closes before the CONNECT is answered.
	m.entry = entry
	s.SetHandler(m) // m is a pointer: no closure per socket
	return nil
}

// OnDisconnect releases m when its socket disconnects (the socket's
// protocol.Handler).
func (m *member) OnDisconnect(string) {
	g := m.ns.g
	g.conns.Remove(m.entry)
	g.mu.Lock()
	g.unwatchExpiry(m)
	g.mu.Unlock()
	g.typing.Gone(m)
	m.end()
	g.presence.drop(m)
	m.task.Do(m.saveOnLeave)
}

// unavailable refuses a CONNECT the server cannot serve now.
var unavailable = &protocol.ConnectError{Message: wire.CodeUnavailable, Data: wire.ErrorBody{Code: wire.CodeUnavailable}}

// session returns the member of a connecting socket: its recovered
// session when pid and the offset token allow an exact recovery (and the
// identity may still subscribe to every room of it), else a new session
// joined to the namespace's auto-join rooms.
func (g *Gateway) session(ctx context.Context, ns *gwNamespace, s *protocol.Socket, id auth.Identity, pid string, offset any) (*member, error) {
	rec, reason := g.recover(ctx, ns, pid, offset)
	if rec != nil && !mayResume(ns, id, rec) {
		reason = refusedForbidden
	} else if rec != nil {
		m, err := g.resume(ctx, ns, s, id, rec)
		switch {
		case transient(err):
			reason = retryLater
		case err != nil:
			reason = refusedError
		case m != nil:
			g.recoveries[recovered].Add(1)
			return m, nil
		default:
			reason = refusedTrimmed
		}
	}
	g.recoveries[reason].Add(1)
	if reason == retryLater {
		// A fresh session would lose what the client missed; asked again
		// in a moment (a cluster electing a leader takes seconds), the
		// store and the log can answer.
		return nil, protocol.ErrReconnect
	}
	sub, err := g.b.Subscribe(ctx, nil, broker.Position{})
	if err != nil {
		return nil, err
	}
	s.SetPID(newPID())
	m := newMember(ns, s, id, sessionState{generation: generation{Gen: 1}}, sub)
	if err := m.autoJoin(ctx); err != nil {
		sub.Close()
		return nil, err
	}
	return m, nil
}

// resume returns a member reading rec's rooms from their resume positions,
// or nil when retention removed events the session needed (the client
// then gets a fresh session).
func (g *Gateway) resume(ctx context.Context, ns *gwNamespace, s *protocol.Socket, id auth.Identity, rec *sessionRecord) (*member, error) {
	sub, err := g.b.Subscribe(ctx, nil, broker.Position{})
	if err != nil {
		return nil, err
	}
	for room, off := range rec.Rooms.all() {
		reset, err := sub.Add(ctx, room, broker.Position{Offset: off})
		if err != nil || reset != nil {
			sub.Close()
			return nil, err
		}
	}
	if old := g.srv.Of(ns.name).Socket(rec.SID); old != nil {
		old.Disconnect() // the old connection has not noticed it is gone
	}
	s.Restore(rec.SID)
	s.SetPID(rec.PID)
	return newMember(ns, s, id, rec.sessionState, sub), nil
}

// saveOnLeave writes the session again when its socket disconnects and
// its record was written more than a sixteenth of the recovery window
// ago, so that it stays recoverable for at least 15/16 of a window from
// now. A record written recently is not written again: in a reconnect
// storm, sockets that connected moments before cost no second write. Not
// awaited.
func (m *member) saveOnLeave() {
	if m.ns.g.sessions.clock()-m.saved < m.ns.g.cfg.RecoveryWindow/16 {
		return
	}
	ctx, cancel := context.WithTimeout(m.ns.g.ctx, m.ns.g.cfg.PublishTimeout)
	defer cancel()
	if err := m.ns.g.sessions.saveBehind(ctx, m.record(m.rec)); err != nil && m.ns.g.ctx.Err() == nil {
		m.ns.g.log.Warn("socketio: save session at disconnect", "err", err)
	}
}

// authenticate returns the identity of a connecting socket: the CONNECT
// payload's token (a string; anything else is refused; like a header, it
// may be a token or an API key) or, without one, the handshake request's
// credential (an API key only from a header, never the cookie or
// ?token=). Errors wrap auth.ErrUnauthorized.
func (g *Gateway) authenticate(s *protocol.Socket, token any) (auth.Identity, error) {
	switch t := token.(type) {
	case string:
		if t != "" {
			return g.cfg.Auth.Authenticate(t)
		}
	case nil:
	default:
		return auth.Identity{}, fmt.Errorf("%w: auth.token must be a string", auth.ErrUnauthorized)
	}
	var cred handshakeCredential // none: value "", src httpx.FromNone
	if c, ok := s.Request().Kept.(*handshakeCredential); ok {
		cred = *c
	}
	return httpx.AuthenticateFrom(g.cfg.Auth, cred.value, cred.src)
}

// admit checks that id may connect to the namespace: it must hold the
// namespace's role, if any (API keys are let in). Errors wrap
// auth.ErrUnauthorized (anonymous) or auth.ErrForbidden.
func (ns *gwNamespace) admit(id auth.Identity) error {
	switch {
	case ns.role == "" || id.APIKey || id.HasRole(ns.role):
		return nil
	case id.Anonymous:
		return fmt.Errorf("%w: namespace %s needs a token with the role %q", auth.ErrUnauthorized, ns.name, ns.role)
	}
	return fmt.Errorf("%w: namespace %s needs the role %q", auth.ErrForbidden, ns.name, ns.role)
}

// autoJoinRooms returns the log rooms id is joined to at connect: the
// namespace's AutoJoin rooms with {sub} replaced, for token identities
// only; names that are not valid rooms are left out.
func (ns *gwNamespace) autoJoinRooms(id auth.Identity) []string {
	if id.Anonymous || id.APIKey || len(ns.autoJoin) == 0 {
		return nil
	}
	var out []string
	for _, r := range ns.autoJoin {
		logRoom, err := ns.logRoom(strings.ReplaceAll(r, "{sub}", id.Subject))
		if err == nil && !slices.Contains(out, logRoom) {
			out = append(out, logRoom)
		}
	}
	return out
}

// autoJoined reports whether logRoom is one of id's auto-join rooms in
// the namespace (see autoJoinRooms), without allocating.
func (ns *gwNamespace) autoJoined(id auth.Identity, logRoom string) bool {
	if id.Anonymous || id.APIKey {
		return false
	}
	for _, r := range ns.autoJoin {
		if l, err := ns.logRoom(strings.ReplaceAll(r, "{sub}", id.Subject)); err == nil && l == logRoom {
			return true
		}
	}
	return false
}

// mayResume reports whether id may still subscribe to every room of the
// session to recover (the token may have changed since); the rooms it is
// auto-joined to count as allowed.
func mayResume(ns *gwNamespace, id auth.Identity, rec *sessionRecord) bool {
	auto := ns.autoJoinRooms(id)
	for room := range rec.Rooms.all() {
		if !id.Can(auth.Subscribe, room) && !slices.Contains(auto, room) {
			return false
		}
	}
	return true
}

// recover returns the session to restore for pid and the client's offset
// token, with each room's resume position, or nil.
// When it returns nil for a client that asked to recover (a pid), reason
// says why (see recoveryReasons).
func (g *Gateway) recover(ctx context.Context, ns *gwNamespace, pid string, offset any) (_ *sessionRecord, reason int) {
	if pid == "" {
		return nil, noRecovery
	}
	if len(pid) > 64 {
		return nil, refusedUnknown
	}
	var tokStr string
	switch v := offset.(type) {
	case nil:
	case string:
		tokStr = v
	default:
		return nil, refusedOffset
	}
	tok, ok := parseToken(tokStr)
	if !ok {
		return nil, refusedOffset
	}
	old, err := g.sessions.lookup(ctx, pid)
	if transient(err) {
		return nil, retryLater
	}
	if err != nil {
		g.log.Error("socketio: look up session", "err", err)
		return nil, refusedError
	}
	switch {
	case old == nil || old.NSP != ns.name:
		return nil, refusedUnknown
	case old.Epoch != g.b.Epoch():
		return nil, refusedEpoch
	}
	rooms, ok := resumeFrom(&old.sessionState, tok)
	if !ok {
		return nil, refusedOffset
	}
	prev := old.generation
	rec := &sessionRecord{PID: old.PID, NSP: old.NSP, SID: old.SID, Epoch: old.Epoch, sessionState: sessionState{Prev: &prev,
		generation: generation{Gen: old.Gen + 1, Rooms: roomOffsetsOf(rooms)}, Presence: old.Presence}}
	for _, off := range rooms {
		rec.Live = max(rec.Live, off)
	}
	// The token and every resume position (a room joined after the
	// client's last event resumes from its join position, past the
	// token) must be in this node's tail: on a cluster node this waits
	// for what another node sent, and resume would otherwise take a room
	// for one of another log.
	if err := g.b.WaitHead(ctx, max(tok.offset, rec.Live)); transient(err) {
		return nil, retryLater
	} else if err != nil {
		return nil, refusedOffset
	}
	return rec, recovered
}

// transient reports whether err says that the state store or the log
// cannot answer now (a cluster without a leader, this node's tail not yet
// where the client was), or that the wait for them ran out: asked again
// later, they may.
func transient(err error) bool {
	return errors.Is(err, broker.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// OnEvent handles an event of m's socket (see Gateway.onEvent): the
// socket's protocol.Handler, set by connect; events come only after
// onConnect.
func (m *member) OnEvent(ev *protocol.Event) { m.ns.g.onEvent(m, ev) }

// onConnect starts the socket's delivery and handlers.
func (g *Gateway) onConnect(s *protocol.Socket) {
	m, _ := s.Handler().(*member)
	if m == nil || m.ended.Load() {
		// The socket disconnected before it connected (OnDisconnect ended
		// its member).
		s.Disconnect()
		return
	}
	m.start()
}

// onEvent handles one client event, on the connection's reading
// goroutine, which it leaves as soon as the event is handed on (see
// inflight.go).
func (g *Gateway) onEvent(m *member, ev *protocol.Event) {
	if !m.acquire(ev) {
		return
	}
	switch ev.Name {
	case "room:join":
		g.onJoin(m, ev)
	case "room:leave":
		g.onLeave(m, ev)
	case "room:read":
		g.onRead(m, ev)
	case "me:rooms":
		g.onMyRooms(m, ev)
	case "room:presence":
		g.onPresence(m, ev)
	case typing.StartType, typing.StopType:
		g.onTyping(m, ev)
	case messages.EditType, messages.DeleteType:
		g.onChange(m, ev)
	default:
		g.onPublish(m, ev)
	}
}

// respond acknowledges ev with ack, or with {ok: false, error} for err.
func (g *Gateway) respond(ev *protocol.Event, ack any, err error) {
	if err != nil {
		e := wire.NewErrorBody(err)
		if e.Code == wire.CodeInternal {
			g.log.Error("socketio: event failed", "event", ev.Name, "err", err)
		}
		if !ev.HasAck() {
			// Never a silent drop: an event sent without an ack that fails
			// (over the publish rate, forbidden, invalid) is answered with
			// an "error" event (a type no one can publish) naming it.
			e.Event = ev.Name
			_ = ev.Socket().Emit(ErrorEvent, e)
			return
		}
		ack = errorAck{Error: e}
	}
	if ev.HasAck() {
		ev.Ack(ack)
	}
}

// ErrorEvent is the event a socket is sent when an event it sent without
// asking for an ack fails: {code, message, event} (event: the failed
// event's name), with the code and message an ack would have carried.
// It is a reserved event type (broker.ReservedType): no client can
// publish it.
const ErrorEvent = "error"

// roomEvent decodes the first argument of ev as an object with a string
// room (fields receives the whole object) and maps the room to its log
// room, validating both.
func (ns *gwNamespace) roomEvent(ev *protocol.Event) (room, logRoom string, fields map[string]json.RawMessage, err error) {
	if room, err = roomArg(ev, &fields); err != nil {
		return "", "", nil, err
	}
	logRoom, err = ns.logRoom(room)
	return room, logRoom, fields, err
}

// roomArg decodes the first argument of ev as an object with a string
// room; fields receives the whole object.
func roomArg(ev *protocol.Event, fields *map[string]json.RawMessage) (string, error) {
	if len(ev.Args) == 0 {
		return "", wire.BadRequest("the first argument must be an object with a string room")
	}
	// Unmarshal, not a Decoder: the values stay raw (UseNumber would
	// change nothing), and a Decoder and its buffer cost ~800 bytes a join.
	if err := json.Unmarshal(ev.Args[0], fields); err != nil || *fields == nil {
		return "", wire.BadRequest("the first argument must be an object with a string room")
	}
	var room string
	if err := json.Unmarshal((*fields)["room"], &room); err != nil || room == "" {
		return "", wire.BadRequest("the first argument must be an object with a string room")
	}
	return room, nil
}

// onJoin joins the room with the member's state (on its command
// goroutine) and acknowledges from there, so the ack reaches the client
// before the room's first events. A join without `after` starts at the
// head as it is now, when the join is read: what the socket publishes
// after it is sent to it.
func (g *Gateway) onJoin(m *member, ev *protocol.Event) {
	room, logRoom, fields, err := m.ns.roomEvent(ev)
	if err == nil && !m.ns.autoJoined(m.id, logRoom) {
		err = m.id.Check(auth.Subscribe, logRoom)
	}
	if err != nil {
		m.finish(ev, nil, err)
		return
	}
	var after *uint64
	if raw, ok := fields["after"]; ok && string(raw) != "null" {
		s := strings.Trim(string(raw), `"`)
		off, err := broker.ParseOffset(s)
		if err != nil {
			m.finish(ev, nil, wire.BadRequest("after must be an offset (a whole number)"))
			return
		}
		after = &off
	}
	var epoch string
	if raw, ok := fields["epoch"]; ok {
		if err := json.Unmarshal(raw, &epoch); err != nil {
			m.finish(ev, nil, wire.BadRequest("epoch must be a string"))
			return
		}
	}
	history, err := joinHistory(fields, g.cfg.MaxHistory)
	if err != nil {
		m.finish(ev, nil, err)
		return
	}
	wantPresence, err := joinPresence(fields, m.id, logRoom)
	if err != nil {
		m.finish(ev, nil, err)
		return
	}
	now := g.b.Head().Offset
	m.enqueue(func() {
		ctx, cancel := context.WithTimeout(g.ctx, g.cfg.PublishTimeout)
		defer cancel()
		ack, err := m.join(ctx, room, after, epoch, now, history, wantPresence)
		g.presence.sync(m)
		m.finish(ev, ack, err)
	})
}

// onLeave leaves the room on the member's command goroutine, after the
// joins and leaves read before it.
func (g *Gateway) onLeave(m *member, ev *protocol.Event) {
	var fields map[string]json.RawMessage
	room, err := roomArg(ev, &fields)
	if err != nil {
		m.finish(ev, nil, err)
		return
	}
	m.enqueue(func() {
		ctx, cancel := context.WithTimeout(g.ctx, g.cfg.PublishTimeout)
		defer cancel()
		ack, err := m.leave(ctx, room)
		g.presence.sync(m)
		m.finish(ev, ack, err)
	})
}

// onPublish publishes {room, ...data} under the event's name: it queues
// the event for commit and leaves the ack to the member's ack goroutine.
func (g *Gateway) onPublish(m *member, ev *protocol.Event) {
	msg, ephemeral, err := g.message(m, ev)
	if err == nil && ephemeral {
		_, err = g.b.PublishEphemeral(msg)
		m.finish(ev, ephemeralAck{OK: true, Ephemeral: true}, err)
		return
	}
	if err != nil {
		m.finish(ev, nil, err)
		return
	}
	ctx, cancel := context.WithTimeout(g.ctx, g.cfg.PublishTimeout)
	p, err := g.b.Enqueue(ctx, msg)
	if err != nil {
		cancel()
		m.finish(ev, nil, err)
		return
	}
	m.awaitCommit(pendingAck{ev: ev, p: p, ctx: ctx, cancel: cancel})
}

// message turns a publish event into the message to log (or to send as
// ephemeral), checking permission and the publish rate.
func (g *Gateway) message(m *member, ev *protocol.Event) (msg broker.Message, ephemeral bool, err error) {
	if len(ev.Attachments) > 0 && len(ev.Args) > 0 {
		// Bytes are logged as {"$binary": base64} (see binary.go).
		arg, err := checkAttachments(ev.Args[0], ev.Attachments)
		if err != nil {
			return msg, false, wire.BadRequest(err.Error())
		}
		ev.Args[0] = arg
	}
	var fields map[string]json.RawMessage
	room, err := roomArg(ev, &fields)
	if err != nil {
		return msg, false, err
	}
	logRoom, err := m.ns.logRoom(room)
	if err != nil {
		return msg, false, err
	}
	if err := m.id.Check(auth.Publish, logRoom); err != nil {
		return msg, false, err
	}
	if key, limited := limit.PublishKey(m.id, m.s.Request().RemoteAddr); limited {
		if ok, wait := g.cfg.PublishLimit.Allow(key); !ok {
			return msg, false, &wire.RateLimited{Wait: wait}
		}
	}
	ephemeral = string(fields["ephemeral"]) == "true"
	delete(fields, "room")
	delete(fields, "ephemeral")
	data, err := json.Marshal(fields)
	if err != nil {
		return msg, false, wire.BadRequest("data cannot be encoded")
	}
	return broker.Message{Room: logRoom, Type: ev.Name, Data: data, From: m.id.From()}, ephemeral, nil
}

// newPID returns a new private session id: the time in nanoseconds (8
// bytes, big endian), then 112 random bits, so that new sessions' records
// are keyed in the order they are made: the state store inserts them at
// the end of its key space (in bbolt, into the last page, filled before it
// splits) instead of all over it. Millisecond time left the sessions of
// one millisecond in random order, and their pages half empty.
func newPID() string {
	var b [22]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixNano()))
	rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

// clientRoom turns a log room name into the name the namespace's clients use.
func (ns *gwNamespace) clientRoom(logRoom string) string {
	return strings.TrimPrefix(logRoom, ns.prefix)
}
