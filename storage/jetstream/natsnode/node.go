package natsnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Defaults of Config.
const (
	// DefaultClusterName names the cluster when Config.ClusterName is
	// empty. Every node of one cluster must use the same name.
	DefaultClusterName = "rtbroker"
	// DefaultStartTimeout bounds Start: the server accepting connections
	// and, in a cluster, a JetStream meta leader being elected, which
	// needs a majority of the peers up.
	DefaultStartTimeout = time.Minute
	// DefaultMaxPayload is the largest message the server accepts: a
	// state value of broker.MaxStateValueLen and its headers fit.
	DefaultMaxPayload = 4 << 20
)

// Config says how to run the embedded server.
type Config struct {
	// Name is the server's name, unique in the cluster and the same
	// across restarts (JetStream identifies its peers by it). Empty:
	// the host name and the cluster port, "host-6222" (or "host" alone).
	Name string
	// StoreDir is JetStream's storage directory (created if missing).
	StoreDir string
	// ClientListen is the HOST:PORT of the client port, for NATS tools
	// and external clients. Empty: none (in a cluster, a loopback port on
	// a free port: the server routes only once a client port listens);
	// rtbroker connects in-process either way.
	ClientListen string
	// ClusterName names the cluster; default DefaultClusterName.
	ClusterName string
	// ClusterListen is the HOST:PORT the cluster (route) port listens
	// on. Empty: a standalone server, no cluster.
	ClusterListen string
	// Peers are the route URLs of the cluster's nodes (nats://host:port
	// or host:port; this node's own may be listed: it is ignored by the
	// server). Needed with ClusterListen.
	Peers []string
	// StartTimeout bounds Start; default DefaultStartTimeout.
	StartTimeout time.Duration
	// Logger receives the server's log lines (notices at Info, debug
	// lines at Debug). Nil discards them.
	Logger *slog.Logger
}

// Node is a running embedded NATS server.
type Node struct {
	s   *server.Server
	cfg Config
	log *logger
}

// Start starts the server and returns once it accepts connections and,
// in a cluster, JetStream has a meta leader: a majority of Peers must be
// up within StartTimeout, otherwise Start stops the server and fails with
// an error that says so. ctx cancels the wait.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.ClusterName == "" {
		cfg.ClusterName = DefaultClusterName
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	opts, err := options(cfg)
	if err != nil {
		return nil, err
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	lg := &logger{l: cfg.Logger}
	if lg.l == nil {
		lg.l = slog.New(slog.DiscardHandler)
	}
	lg.l = lg.l.With("component", "nats")
	s.SetLoggerV2(lg, lg.l.Enabled(ctx, slog.LevelDebug), false, false)
	n := &Node{s: s, cfg: cfg, log: lg}
	s.Start() // returns once its listeners are started; Shutdown stops them
	if err := n.wait(ctx); err != nil {
		n.Shutdown()
		return nil, err
	}
	return n, nil
}

// options maps cfg to the server's options.
func options(cfg Config) (*server.Options, error) {
	o := &server.Options{
		ServerName: cfg.Name, JetStream: true, StoreDir: cfg.StoreDir,
		NoSigs: true, MaxPayload: DefaultMaxPayload,
		DontListen: cfg.ClientListen == "",
	}
	if cfg.ClientListen != "" {
		host, port, err := splitHostPort(cfg.ClientListen)
		if err != nil {
			return nil, fmt.Errorf("embedded NATS client listen address: %w", err)
		}
		o.Host, o.Port = host, port
	}
	if cfg.ClusterListen == "" {
		if o.ServerName == "" {
			o.ServerName = hostName()
		}
		return o, nil
	}
	host, port, err := splitHostPort(cfg.ClusterListen)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS cluster listen address: %w", err)
	}
	if o.DontListen {
		// The server starts routing only once its client port listens:
		// a loopback one on a free port, announced to nobody.
		o.DontListen, o.Host, o.Port, o.Cluster.NoAdvertise = false, "127.0.0.1", server.RANDOM_PORT, true
	}
	if port <= 0 {
		return nil, errors.New("embedded NATS cluster listen address needs a fixed port: the peers list names it")
	}
	o.Cluster.Name, o.Cluster.Host, o.Cluster.Port = cfg.ClusterName, host, port
	if o.ServerName == "" {
		o.ServerName = hostName() + "-" + strconv.Itoa(port)
	}
	for _, p := range cfg.Peers {
		u, err := PeerURL(p)
		if err != nil {
			return nil, err
		}
		o.Routes = append(o.Routes, u)
	}
	if len(o.Routes) == 0 {
		return nil, errors.New("embedded NATS cluster needs its peers' route URLs")
	}
	return o, nil
}

// PeerURL parses a route URL: nats://host:port, or host:port.
func PeerURL(p string) (*url.URL, error) {
	if !strings.Contains(p, "://") {
		p = "nats://" + p
	}
	u, err := url.Parse(p)
	if err != nil || u.Host == "" || u.Port() == "" {
		return nil, fmt.Errorf("embedded NATS peer %q: want nats://host:port", p)
	}
	return u, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

func hostName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "rtbroker"
	}
	return h
}

// wait returns once the server accepts connections and JetStream is
// current (in a cluster: a meta leader is known and this node caught up).
func (n *Node) wait(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.StartTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !n.s.ReadyForConnections(50 * time.Millisecond) {
		if err := n.log.fatal(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("embedded NATS did not start within %s", n.cfg.StartTimeout)
		case <-tick.C:
		}
	}
	if n.cfg.ClusterListen == "" {
		return nil
	}
	for !n.s.JetStreamIsCurrent() {
		if err := n.log.fatal(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("embedded NATS: no JetStream meta leader within %s (%d routes up): a majority of the cluster's nodes (--cluster-peers %s) must be running and reachable on their cluster ports",
				n.cfg.StartTimeout, n.s.NumRoutes(), strings.Join(n.cfg.Peers, ","))
		case <-tick.C:
		}
	}
	return nil
}

// Connect returns a connection to the server that does not go through
// the network, reconnecting forever (the server lives as long as the
// process). The caller closes it before Shutdown.
func (n *Node) Connect(opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.InProcessServer(n.s), nats.MaxReconnects(-1)}, opts...)
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to the embedded NATS server: %w", err)
	}
	return nc, nil
}

// Name returns the server's name.
func (n *Node) Name() string { return n.s.Name() }

// ClientURL returns the URL of the client port ("" without one).
func (n *Node) ClientURL() string {
	if n.cfg.ClientListen == "" {
		return ""
	}
	return n.s.ClientURL()
}

// Clustered reports whether the server is a node of a cluster.
func (n *Node) Clustered() bool { return n.cfg.ClusterListen != "" }

// Shutdown stops the server and waits for it.
func (n *Node) Shutdown() {
	n.s.Shutdown()
	n.s.WaitForShutdown()
}

// logger passes the server's log lines to slog and keeps the first
// fatal one (a port already in use): Start fails with it.
type logger struct {
	l     *slog.Logger
	first atomic.Pointer[string]
}

// fatal returns the first fatal line as an error, or nil.
func (g *logger) fatal() error {
	if p := g.first.Load(); p != nil {
		return errors.New("embedded NATS: " + *p)
	}
	return nil
}

func (g *logger) Noticef(format string, v ...any) { g.l.Info(fmt.Sprintf(format, v...)) }
func (g *logger) Warnf(format string, v ...any)   { g.l.Warn(fmt.Sprintf(format, v...)) }
func (g *logger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	g.first.CompareAndSwap(nil, &msg)
	g.l.Error(msg)
}
func (g *logger) Errorf(format string, v ...any) { g.l.Error(fmt.Sprintf(format, v...)) }
func (g *logger) Debugf(format string, v ...any) { g.l.Debug(fmt.Sprintf(format, v...)) }
func (g *logger) Tracef(format string, v ...any) { g.l.Debug(fmt.Sprintf(format, v...)) }
