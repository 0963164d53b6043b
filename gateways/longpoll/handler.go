package longpoll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/conns"
	"github.com/rtbroker/rtbroker/gateways/internal/deadline"
	"github.com/rtbroker/rtbroker/gateways/internal/defaults"
	"github.com/rtbroker/rtbroker/gateways/internal/httpx"
	"github.com/rtbroker/rtbroker/gateways/internal/netpoll"
	"github.com/rtbroker/rtbroker/gateways/internal/pump"
	"github.com/rtbroker/rtbroker/gateways/internal/rawio"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
	"github.com/rtbroker/rtbroker/gateways/presence"
)

// The defaults of Config's fields (a zero field takes its default). The
// command's flags default to these too.
const (
	// DefaultMaxRooms is Config.MaxRooms's default, the same for every
	// gateway (SSE requests, Socket.IO sockets).
	DefaultMaxRooms = defaults.MaxRooms
	// DefaultHold is Config.DefaultTimeout's default.
	DefaultHold = 25 * time.Second
	// DefaultMaxTimeout is Config.MaxTimeout's default.
	DefaultMaxTimeout = 60 * time.Second
	// DefaultWriteTimeout is Config.WriteTimeout's default, the same for
	// every gateway (SSE streams, Engine.IO WebSockets).
	DefaultWriteTimeout = defaults.WriteTimeout
)

// Config holds the long-poll gateway's limits. Zero values take the
// defaults documented on each field.
type Config struct {
	// MaxRooms caps the room parameters of one request. Default
	// DefaultMaxRooms (32).
	MaxRooms int
	// DefaultTimeout is how long a poll is held when it names no timeout.
	// Default 25s.
	DefaultTimeout time.Duration
	// MaxTimeout caps the timeout a client asks for. Default 60s.
	MaxTimeout time.Duration
	// DefaultLimit is how many committed events a response holds at most
	// when the poll names no limit. Default 100.
	DefaultLimit int
	// MaxLimit caps the limit a client asks for. Default 1000.
	MaxLimit int
	// WriteTimeout bounds writing a response. Default 10s.
	WriteTimeout time.Duration
	// Auth authenticates requests (token in the Authorization header, the
	// rtbroker_token cookie or ?token=) and must allow subscribing to every
	// room requested. Default auth.Open() (everyone allowed everything).
	Auth *auth.Authenticator
	// Requeue, when set, hands a connection back to the HTTP server as if
	// just accepted (see engineio.Listener): a poll held off net/http is
	// then answered keeping the connection alive, and the connection
	// goes back to the server for the client's next poll. Default nil:
	// a held poll is answered with Connection: close.
	Requeue func(net.Conn) bool
	// Workers is how many goroutines serve the polls held off net/http
	// (see Handler). Default GOMAXPROCS.
	Workers int
	// Presence, when set, counts a client as present in the rooms it
	// polls from its first poll until the registry's PollGrace after its
	// last one (see presence.Registry.Poll and PollClient). Default nil:
	// not tracked.
	Presence *presence.Registry
	// Logger receives the detail of internal errors. Default slog.Default().
	Logger *slog.Logger
	// DeliveryLatency, when set, receives the sampled publish→deliver
	// latencies of the events answered to polls (see conns.Deliveries).
	DeliveryLatency conns.Observer
	// MaxHistory caps the `history` parameter (each room's last events
	// a poll starts with); over it is 400 invalid_argument. Default
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
	if c.DefaultTimeout <= 0 {
		c.DefaultTimeout = DefaultHold
	}
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = DefaultMaxTimeout
	}
	c.DefaultTimeout = min(c.DefaultTimeout, c.MaxTimeout)
	if c.DefaultLimit <= 0 {
		c.DefaultLimit = 100
	}
	if c.MaxLimit <= 0 {
		c.MaxLimit = 1000
	}
	c.DefaultLimit = min(c.DefaultLimit, c.MaxLimit)
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.Auth == nil {
		c.Auth = auth.Open()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Handler answers long-polls for room events. It is an http.Handler, safe
// for concurrent use. A poll answered at once is served on the goroutine
// net/http runs it on. A poll that must wait, over HTTP/1.1 without TLS
// (on Linux), is held off net/http: the handler hijacks its connection
// and the poll becomes a task of the handler's pump pool, woken by its
// subscription, by one deadline scheduler for every held poll (timeouts,
// token deadlines, Close) and by an epoll poller that sees the client
// hang up; after its answer the connection goes back to the HTTP server
// (Config.Requeue) or is closed (Connection: close). An idle held poll thus
// holds no goroutine and no buffer. Other polls (HTTP/2, TLS) wait on
// their request's goroutine.
//
// The Handler does not own the Broker: call Close on the Handler before
// closing the Broker (closing the Broker first also releases every poll).
type Handler struct {
	b   *broker.Broker
	cfg Config
	lim limits
	// bufs holds *[]byte response buffers, borrowed while a response is
	// built, so a held poll holds none.
	bufs sync.Pool

	t     *httpx.Tracker  // requests in flight, for Active and Close
	conns *conns.Registry // held polls, for the admin API

	deliveries conns.Deliveries // events and bytes answered to polls, for Delivered

	// Held polls (see held): nil pool and poll where polls are not held
	// off their request goroutines.
	pool   *pump.Pool      // runs held polls
	poller *netpoll.Poller // tells when a held poll's client hangs up
	ends   *deadline.Scheduler[*heldPoll]
	ending atomic.Bool     // Close began: held polls are answered, new ones at once
	ctx    context.Context // cancelled by Close once every poll ended
	cancel context.CancelFunc
	wg     sync.WaitGroup // the closing watcher and the flush goroutines
}

// New returns a Handler serving polls from b. cfg's zero fields take their
// defaults; a default above its maximum is lowered to it.
func New(b *broker.Broker, cfg Config) *Handler {
	cfg.setDefaults()
	h := &Handler{
		b:   b,
		cfg: cfg,
		lim: limits{
			maxRooms:       cfg.MaxRooms,
			defaultTimeout: cfg.DefaultTimeout,
			maxTimeout:     cfg.MaxTimeout,
			defaultLimit:   cfg.DefaultLimit,
			maxLimit:       cfg.MaxLimit,
		},
		t:     httpx.NewTracker(),
		conns: conns.New(conns.LongPoll),
	}
	h.deliveries.Latency = cfg.DeliveryLatency
	h.ctx, h.cancel = context.WithCancel(context.Background())
	if rawio.Supported {
		if p, err := netpoll.New(); err == nil {
			h.poller = p
			h.pool = pump.New(cfg.Workers)
			h.ends = deadline.New(deadline.Config{Tick: time.Millisecond}, h.due)
			h.wg.Go(h.watchClosing)
		}
	}
	return h
}

// Connections returns the polls being held, for the admin API.
// Disconnecting one answers it at once with what it has (usually no
// events and an unchanged next), as Close does; the client polls again.
func (h *Handler) Connections() *conns.Registry { return h.conns }

// Active returns how many polls the Handler is serving now (held or being
// answered).
func (h *Handler) Active() int { return h.t.Active() }

// Close releases every held poll with what it has (usually no events and an
// unchanged next), so clients poll again; polls arriving afterwards get
// 503. Close waits until every poll has returned, which takes at most about
// WriteTimeout. Safe to call more than once and from any goroutine other
// than a request's.
func (h *Handler) Close() {
	h.t.Close()
	h.cancel()
	if h.pool == nil {
		return
	}
	h.pool.Close()
	h.wg.Wait()
	h.ends.Close()
	h.poller.Close()
}

// errShutdown is what a request gets once Close has begun.
var errShutdown = fmt.Errorf("long-poll gateway: %w", broker.ErrClosed)

// ServeHTTP answers GET ?room=R[&room=R2…][&after=N][&timeout=D][&limit=K][&epoch=E][&history=H][&presence=1]
// with 200 {"events":[…],"next":N,"epoch":"…"[,"reset":{…}]}; see the
// package documentation. A missing or invalid credential is answered with
// 401 ("unauthorized"), a room the credential may not subscribe to with 403
// ("forbidden"), and so is presence=1 (the rooms' presence:join and
// presence:leave events, held polls answered by them) without the
// presence permission on every room. Bad input is answered with 400 (code
// "invalid_argument"), a closed gateway or broker with 503 ("unavailable"),
// other failures with 500 ("internal"), as a JSON body
// {"error":{"code","message"}}. A client that disconnects releases its
// poll at once; nothing is written. A poll made with a token that expires
// is held at most until the token's deadline (auth's Deadline: exp plus
// leeway), then answered with what there is.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !httpx.Begin(w, r, h.t, h.cfg.Logger, errShutdown) {
		return
	}
	// The poll's end-of-request work, in the order it runs; a held poll
	// (see held) takes it over.
	var fin [4]func()
	fin[3] = h.t.End
	defer func() {
		for _, f := range fin {
			if f != nil {
				f()
			}
		}
	}()
	req, err := parseRequest(r.URL.Query(), h.lim)
	if err != nil {
		httpx.WriteError(w, r, h.cfg.Logger, err)
		return
	}
	history, err := httpx.History(r.URL.Query(), h.cfg.MaxHistory)
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
	fin[2] = sub.Close
	if wantPresence {
		if err := presence.OptIn(sub, id, req.rooms...); err != nil {
			httpx.WriteError(w, r, h.cfg.Logger, err)
			return
		}
	}
	fin[1] = h.cfg.Presence.Poll(presence.PollClient(id, remoteIP(r)), req.rooms, id)
	if err := httpx.StartAtHistory(r.Context(), h.b, sub, req.rooms, history, req.live); err != nil {
		httpx.WriteError(w, r, h.cfg.Logger, err)
		return
	}
	if d := h.cfg.Auth.Deadline(id); !d.IsZero() {
		// Hold no longer than the token is valid: the next poll must
		// bring a fresh one.
		req.timeout = min(req.timeout, max(time.Until(d), 0))
	}
	ctx := r.Context()
	c := &heldPoll{h: h, sub: sub, limit: req.limit}
	var kick func() // makes a held poll's task look at Kicked; e.Done tells a poll on this goroutine
	if h.pool != nil {
		c.task = h.pool.NewTask(c.step)
		kick = c.task.Ready
	}
	e := h.conns.Add(conns.Conn{User: id.Subject, Remote: r.RemoteAddr, Sub: sub, Peer: conns.KickFunc(kick)})
	fin[0] = func() { h.conns.Remove(e) }
	c.entry = e
	hold := func(reset *broker.ResetError, until time.Time) bool {
		return h.hold(w, r, c, reset, until, &fin) // takes fin over when it holds
	}
	evs, reset, err := h.poll(ctx, sub, req, e.Done(), hold)
	if errors.Is(err, errHeld) {
		return
	}
	if err != nil {
		httpx.WriteError(w, r, h.cfg.Logger, err)
		return
	}
	h.respond(w, evs, sub.Position(), reset, sub.LiveAfter())
}

// errHeld is poll's answer when hold took the poll over.
var errHeld = errors.New("long-poll: held off the request goroutine")

// poll returns the first events of sub, waiting for them up to
// req.timeout. It returns no events (and no error) when the timeout passes
// or the gateway or broker closes or kicked is closed, and the reset to report, if any. A
// ResetError from the subscription is folded into reset: it keeps the first
// requested position, the latest resume position, and the room when every
// folded reset concerns the same one. The response's next (the
// subscription's Position) is where the client continues.
//
// When it would wait, poll first offers the poll to hold (the reset so
// far and when the poll ends); when hold takes it, poll returns errHeld
// at once and the poll is answered by someone else.
func (h *Handler) poll(ctx context.Context, sub *broker.Subscription, req request, kicked <-chan struct{}, hold func(*broker.ResetError, time.Time) bool) ([]*broker.Event, *broker.ResetError, error) {
	reset := sub.Reset()
	var timer *time.Timer
	var expired <-chan time.Time
	until := time.Now().Add(req.timeout)
	if req.timeout > 0 {
		timer = time.NewTimer(req.timeout)
		defer timer.Stop()
		expired = timer.C
	}
	for {
		evs, err := sub.TryNext(ctx, req.limit)
		var re *broker.ResetError
		switch {
		case errors.As(err, &re):
			reset = fold(reset, re)
			continue
		case err != nil:
			return nil, nil, err
		case len(evs) > 0:
			evs, re = more(ctx, sub, evs, req.limit)
			if re != nil {
				reset = fold(reset, re)
			}
			return evs, reset, nil
		case reset != nil || expired == nil:
			// A reset is news on its own: answer now rather than hold the
			// client without telling it. timeout=0 never waits.
			return nil, reset, nil
		}
		if hold != nil {
			if hold(reset, until) {
				return nil, nil, errHeld
			}
			hold = nil
		}
		select {
		case <-sub.Wait():
		case <-expired:
			return nil, reset, nil
		case <-h.t.Closing():
			return nil, reset, nil
		case <-kicked: // an operator disconnected it (the admin API)
			return nil, reset, nil
		case <-h.b.Done():
			return nil, reset, nil
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// fold adds the reset re to reset (nil: none yet): the first requested
// position, the latest resume position, and the room when both concern
// the same one.
func fold(reset, re *broker.ResetError) *broker.ResetError {
	if reset == nil {
		return re
	}
	room := re.Room // the room of resets of one room; "" for several
	if room != reset.Room {
		room = ""
	}
	return &broker.ResetError{Reason: re.Reason, Room: room, Requested: reset.Requested, Resume: re.Resume}
}

// respond writes the 200 response: the events' cached JSON, concatenated,
// in one write.
func (h *Handler) respond(w http.ResponseWriter, evs []*broker.Event, next broker.Position, reset *broker.ResetError, liveAfter uint64) {
	p := h.getBuf()
	b := h.appendBody((*p)[:0], evs, next, reset, liveAfter)
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Length", strconv.Itoa(len(b)))
	// ErrNotSupported (a ResponseWriter without deadlines) is fine.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	w.WriteHeader(http.StatusOK)
	w.Write(b) //nolint:errcheck // the client may be gone; nothing to do
	h.putBuf(p, b)
}

// appendBody appends the 200 response's body to b: the events' cached
// JSON, next, the epoch and the reset, if any. It counts the events as
// delivered.
func (h *Handler) appendBody(b []byte, evs []*broker.Event, next broker.Position, reset *broker.ResetError, liveAfter uint64) []byte {
	b = append(b, `{"events":[`...)
	for i, ev := range evs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ev.JSON()...)
	}
	h.deliveries.Add(evs, len(b)-len(`{"events":[`), liveAfter)
	b = append(b, `],"next":`...)
	b = strconv.AppendUint(b, next.Offset, 10)
	b = append(b, `,"epoch":`...)
	b = broker.AppendJSONString(b, next.Epoch)
	if reset != nil {
		rs := wire.NewReset(reset)
		rs.Epoch = "" // the response's own epoch
		b = append(b, `,"reset":`...)
		b = rs.AppendJSON(b)
	}
	return append(b, "}\n"...)
}

// getBuf borrows a response buffer; putBuf gives it back, holding b (the
// buffer as it grew).
func (h *Handler) getBuf() *[]byte {
	if p, _ := h.bufs.Get().(*[]byte); p != nil {
		return p
	}
	return new([]byte)
}

func (h *Handler) putBuf(p *[]byte, b []byte) {
	if cap(b) <= maxPooled {
		*p = b[:0]
		h.bufs.Put(p)
	}
}

// maxPooled is the largest response buffer returned to the pool.
const maxPooled = 256 << 10
