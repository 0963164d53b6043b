package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/front"
	"github.com/rtbroker/rtbroker/gateways/httpapi"
	"github.com/rtbroker/rtbroker/gateways/limit"
	"github.com/rtbroker/rtbroker/gateways/longpoll"
	"github.com/rtbroker/rtbroker/gateways/presence"
	"github.com/rtbroker/rtbroker/gateways/receipts"
	"github.com/rtbroker/rtbroker/gateways/socketio"
	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
	"github.com/rtbroker/rtbroker/gateways/socketio/protocol"
	"github.com/rtbroker/rtbroker/gateways/sse"
	"github.com/rtbroker/rtbroker/gateways/typing"
	"github.com/rtbroker/rtbroker/storage/bolt"
	"github.com/rtbroker/rtbroker/web"
)

// dbFile is the bbolt file inside the data directory.
const dbFile = "rtbroker.db"

// serve runs the broker until ctx is cancelled, then shuts down in order:
// HTTP server (streams told to come back, in-flight publishes finish) →
// gateways → broker → log.
func serve(ctx context.Context, cfg *config, log *slog.Logger) error {
	for _, w := range cfg.warnings {
		log.Warn("config", "problem", w)
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return err
	}
	authn, closeAuth, err := cfg.authenticator(ctx, log)
	if err != nil {
		return err
	}
	defer closeAuth() // after the gateways (deferred later, so closed first)
	// --store: the bbolt file in --data, or JetStream at --nats-url.
	commits := newCommitMetrics() // observed by the bbolt log, served by /metrics
	st, err := openStore(ctx, cfg, log, commits)
	if err != nil {
		return err
	}
	defer st.close()
	path := st.where
	rules, err := cfg.retention() // the policy file's or --retention-rules
	if err != nil {
		return err
	}
	b := broker.New(st.log, broker.Config{
		State:             st.state,
		TailSize:          cfg.TailSize,
		MaxBatch:          cfg.MaxBatch,
		MaxDataSize:       cfg.MaxDataSize,
		Retention:         broker.Retention{MaxAge: cfg.RetentionMaxAge, MaxCount: cfg.RetentionMaxCount, Idempotency: cfg.IdempotencyWindow, Rules: rules},
		RetentionInterval: cfg.RetentionInterval,
		Logger:            log,
	})
	defer b.Close()
	reads := receipts.New(b, receipts.Config{MaxRooms: cfg.UnreadMaxRooms, MaxUnread: cfg.UnreadMaxCount}) // shared by the API and Socket.IO
	presStore, startBoard := clusterPresence(st)                                                           // across nodes on JetStream
	pres := presence.New(b, presence.Config{MaxList: cfg.PresenceMaxList, PollGrace: cfg.PresencePollGrace, Events: cfg.PresenceEvents, Logger: log, Store: presStore})
	if startBoard != nil {
		stop, err := startBoard(ctx, pres)
		if err != nil {
			return err
		}
		defer stop() // after pres.Close
	}
	defer pres.Close()                         // after the gateways, whose connections leave as they close
	msgs, err := newMessages(ctx, cfg, b, log) // edit and delete, shared by the gateways
	if err != nil {
		return err
	}
	pubLimit := limit.NewBuckets(limit.Rate{PerSecond: cfg.publishPerSec, Burst: cfg.PublishBurst}, 0, nil)
	conns := limit.NewConns(cfg.MaxConnsPerIP)
	sockets := limit.NewSockets(2 * cfg.MaxConnsPerIP) // TCP connections per IP (a polling session uses two at once)
	connects := limit.NewBuckets(limit.Rate{PerSecond: cfg.connectPerSec, Burst: cfg.ConnectBurst}, 0, nil)
	typer := typing.New(b, typing.Config{Timeout: cfg.TypingTimeout, MaxTypists: cfg.MaxTypists}) // closed after the gateways that use it
	defer typer.Close()
	deliver := newDeliverLatency() // observed by the gateways, served by /metrics
	sseH := sse.New(b, sse.Config{DeliveryLatency: deliver.WithLabelValues("sse"), MaxRooms: cfg.MaxRooms, Retry: cfg.SSERetry, Heartbeat: cfg.SSEHeartbeat, WriteTimeout: cfg.WriteTimeout, Auth: authn, Presence: pres, Logger: log, MaxHistory: cfg.MaxHistory})
	defer sseH.Close()
	// requeue is the listener's Requeue (set once the listener exists,
	// before serving; never with TLS): connections the gateways took from
	// net/http go back to it for their next request.
	var requeue func(net.Conn) bool
	requeueConn := func(c net.Conn) bool { return requeue != nil && requeue(c) }
	pollH := longpoll.New(b, longpoll.Config{DeliveryLatency: deliver.WithLabelValues("longpoll"), MaxRooms: cfg.MaxRooms, DefaultTimeout: cfg.PollTimeout, MaxTimeout: cfg.PollMaxTimeout, WriteTimeout: cfg.WriteTimeout, Auth: authn, Presence: pres, Logger: log, MaxHistory: cfg.MaxHistory,
		Requeue: requeueConn})
	defer pollH.Close()

	namespaces, err := cfg.sioNamespaces() // with the policy's roles and auto-join rooms
	if err != nil {
		return err
	}
	sioGW := socketio.New(b, socketio.GatewayConfig{
		Server: protocol.Config{Engine: engineio.Config{
			PingInterval: cfg.SIOPingInterval, PingTimeout: cfg.SIOPingTimeout, MaxPayload: cfg.SIOMaxPayload,
			WriteTimeout: cfg.WriteTimeout,
			IdleTimeout:  cfg.IdleTimeout,
			Admit:        admit(conns),
			Requeue:      requeueConn, // idle POST connections wait off net/http
		}},
		AllowedOrigins: cfg.AllowedOrigins,
		PublishLimit:   pubLimit,
		MaxPending:     cfg.SIOMaxPending,
		RecoveryWindow: cfg.SIORecoveryWindow,
		Namespaces:     namespaces,
		MaxRooms:       cfg.MaxRooms,
		MaxHistory:     cfg.MaxHistory,
		Typing:         typer,
		Auth:           authn,
		Presence:       pres,
		Logger:         log,
		Receipts:       reads,
		Messages:       msgs,

		DeliveryLatency: deliver.WithLabelValues("socketio"),
	})
	defer sioGW.Close()

	api := httpapi.New(b, httpapi.Config{MaxBodySize: cfg.MaxBodySize, Auth: authn, AllowedOrigins: cfg.AllowedOrigins, PublishLimit: pubLimit, Receipts: reads, Presence: pres, Typing: typer, Messages: msgs, Logger: log})
	reg := newMetrics(metricSources{b: b, log: st.log, health: st.health, path: path, sse: sseH, poll: pollH, sio: sioGW, authn: authn,
		publish: pubLimit, connect: connects, conns: conns, commits: commits, deliver: deliver, sockets: sockets})
	metrics := api.AdminOnly(metricsHandler(reg)) // open only when no credential is configured
	if cfg.MetricsAddr != "" {
		stop, err := servePrivate("metrics", cfg.MetricsAddr, metricsHandler(reg), log)
		if err != nil {
			return err
		}
		defer stop()
		metrics = nil // only on the private address
	}
	router := newRouter(routes{
		api:     api,
		sse:     limit.Connects(connects, nil)(conns.Middleware(sseH)),
		poll:    limit.Connects(connects, nil)(conns.Middleware(pollH)),
		sio:     limit.Connects(connects, engineHandshake)(sioGW),
		web:     web.Handler(http.HandlerFunc(httpapi.NotFound)),
		health:  healthHandler(b, st.health, false),
		ready:   healthHandler(b, st.health, true),
		metrics: metrics,
		backup:  api.AdminOnly(writeDeadline(cfg.WriteTimeout, st.backup)),
		admin:   withDumpRoutes(newAdminAPI(b, api, cfg.WriteTimeout, sseH, pollH, sioGW), api, b, st, msgs, cfg, log),
	})

	// No TCP keepalive: every long-lived transport has its own heartbeat
	// (Engine.IO ping, SSE comments, the long-poll timeout) and idle HTTP
	// connections have IdleTimeout; keepalive would cost four setsockopt
	// calls per accepted connection.
	tcpLn, err := (&net.ListenConfig{KeepAlive: -1}).Listen(context.Background(), "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	counted := &countingListener{Listener: tcpLn}
	tctx, stopTrim := context.WithCancel(ctx)
	var trimWG sync.WaitGroup
	if cfg.MemoryRelease {
		trimWG.Go(func() { trimAfterBursts(tctx, counted.n.Load, trimEvery, trimMinBurst, trimMinGap, freeOSMemory) })
	}
	if cfg.BusyGCPercent > 0 {
		trimWG.Go(func() {
			paceGC(tctx, func() uint64 { return uint64(b.Stats().Published) }, paceEvery, busyPerLook, baseGC, cfg.BusyGCPercent, setGCPercent)
		})
	}
	defer trimWG.Wait()
	defer stopTrim()
	// No server-wide ReadTimeout: it would cut SSE streams, held polls and
	// WebSockets. Request bodies get their own deadline (BodyDeadline),
	// and connections beyond a client's share are refused (Sockets).
	hosts := newHostGuard(cfg.AllowedHosts, authn.AllowsAnonymous(), tcpLn.Addr())
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		TLSConfig:         tlsCfg,
	}
	proxies, _ := newTrustedProxies(cfg.TrustedProxies) // checked by validate
	srv.Handler = sockets.Install(srv)(proxies.middleware(hosts.middleware(limit.BodyDeadline(cfg.ReadTimeout)(router))))
	var ln net.Listener = counted
	var fl *front.Listener
	if tlsCfg == nil {
		// Publishes and WebSocket handshakes are served before net/http;
		// everything else goes to it. Connections taken from net/http
		// come back through rl, outside the count (not new ones).
		fl = front.New(counted, srv, frontRoute, cfg.WriteTimeout)
		rl := engineio.NewListener(fl)
		requeue, ln = rl.Requeue, rl
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	// Streams do not end by themselves: tell them to, as soon as shutdown
	// starts, so that Shutdown only waits for requests that do.
	srv.RegisterOnShutdown(sseH.Close)
	srv.RegisterOnShutdown(pollH.Close)
	srv.RegisterOnShutdown(sioGW.Close) // WebSocket connections are hijacked: Shutdown does not see them

	if cfg.PprofAddr != "" {
		stop, err := servePprof(cfg.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	log.Info("listening", "addr", ln.Addr().String(), "url", scheme+"://"+displayAddr(ln.Addr()), "data", path, "epoch", b.Epoch(), "head", b.Head().Offset)
	served := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			served <- srv.ServeTLS(ln, "", "") // certificates are in TLSConfig
			return
		}
		served <- srv.Serve(ln)
	}()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	var ferr error
	var fwg sync.WaitGroup
	if fl != nil { // its connections end beside net/http's
		fwg.Go(func() { ferr = fl.Shutdown(sctx) })
	}
	err = srv.Shutdown(sctx)
	fwg.Wait()
	if err == nil {
		err = ferr
	}
	if errors.Is(err, context.DeadlineExceeded) {
		log.Warn("shutdown timeout: closing remaining connections")
		err = srv.Close()
	}
	<-served
	log.Info("stopped", "head", b.Head().Offset)
	return err
}

// admit is the Engine.IO handshake check of conns (nil when unlimited).
func admit(conns *limit.Conns) func(*http.Request) (func(), bool) {
	if conns == nil {
		return nil
	}
	return conns.Admit
}

// engineHandshake reports whether r opens an Engine.IO session (a GET
// that names no session id), which the connect rate counts; the requests
// of an open session (polls, posts, the WebSocket upgrade) and CORS
// preflights do not count.
func engineHandshake(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.Query().Get("sid") == ""
}

// displayAddr turns ":8080" style listen addresses into a URL host.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		return "localhost:" + strconv.Itoa(tcpPort(a))
	}
	return tcp.String()
}

func tcpPort(a net.Addr) int {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.Port
	}
	return 0
}

// backupHandler streams a consistent copy of the bbolt file, taken while
// the broker keeps running. The router guards it (httpapi.AdminOnly) and
// bounds each write (writeDeadline). A copy that fails mid-way ends the
// connection without the body's end, so the client cannot take it for
// complete; a failure of the client (gone, not reading) is not an error
// of the server's.
func backupHandler(l *bolt.Log, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="`+dbFile+`"`)
		setLength := func(n int64) { w.Header().Set("Content-Length", strconv.FormatInt(n, 10)) }
		if _, err := l.BackupSized(w, setLength); err != nil {
			if dw, ok := w.(*deadlineWriter); (ok && dw.err != nil) || r.Context().Err() != nil {
				log.Debug("backup: the client stopped reading", "err", err)
			} else {
				log.Error("backup", "err", err)
			}
			panic(http.ErrAbortHandler)
		}
	}
}
