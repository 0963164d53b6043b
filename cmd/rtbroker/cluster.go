package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtbroker/rtbroker/storage/jetstream"
	"github.com/rtbroker/rtbroker/storage/jetstream/natsnode"
)

// natsConfig is how serve reaches JetStream: an external NATS at
// --nats-url (with its credentials and TLS), or a NATS server embedded in
// this process (alone, or a node of a cluster of rtbroker processes).
// Secrets are never logged or printed.
type natsConfig struct {
	Embedded      bool          // --nats-embedded (also: --store jetstream without --nats-url)
	Listen        string        // the embedded server's client port ("": in-process only)
	Name          string        // the embedded server's name ("": host-port)
	ClusterName   string        // the embedded cluster's name
	ClusterListen string        // the embedded server's route port ("": standalone)
	ClusterPeers  []string      // route URLs of the cluster's nodes
	StartTimeout  time.Duration // JetStream ready (meta leader, stream created) within this
	Timeout       time.Duration // each JetStream request and acknowledgement

	Creds    string // --nats-creds: a NATS credentials (JWT + nkey) file
	User     string
	Password string
	Token    string
	CA       string // PEM CA certificates verifying the NATS servers
	Cert     string // PEM client certificate (mutual TLS), with Key
	Key      string
}

func (n *natsConfig) flags(fs *flag.FlagSet) {
	fs.BoolVar(&n.Embedded, "nats-embedded", false, "run a NATS server with JetStream inside this process (its files in --data/nats); implies --store jetstream, which without --nats-url does the same")
	fs.StringVar(&n.Listen, "nats-listen", "", "`host:port` of the embedded NATS server's client port, for NATS tools (empty: none, rtbroker connects in-process)")
	fs.StringVar(&n.Name, "nats-name", "", "the embedded NATS server's `name`, unique in the cluster and stable across restarts (default: host name and cluster port)")
	fs.StringVar(&n.ClusterName, "cluster-name", natsnode.DefaultClusterName, "`name` of the embedded NATS cluster; the same on every node")
	fs.StringVar(&n.ClusterListen, "cluster-listen", "", "`host:port` the embedded NATS server's cluster (route) port listens on; with --cluster-peers, this process is a node of a JetStream cluster")
	fs.Var(listFlag{&n.ClusterPeers}, "cluster-peers", "comma-separated route `URLs` (nats://host:port) of the cluster's nodes, this one's included or not")
	fs.DurationVar(&n.StartTimeout, "nats-start-timeout", natsnode.DefaultStartTimeout, "how long start-up waits for JetStream (a meta leader, which needs a majority of the cluster's nodes, and the stream) before it fails")
	fs.DurationVar(&n.Timeout, "nats-timeout", jetstream.DefaultAckTimeout, "how long a publish waits for the stream's acknowledgement (and any other JetStream request for its answer) before it is refused unavailable; keep it under the Socket.IO publish timeout (10s)")
	fs.StringVar(&n.Creds, "nats-creds", "", "NATS credentials `file` (user JWT and nkey seed) for --nats-url")
	fs.StringVar(&n.User, "nats-user", "", "NATS user `name` for --nats-url, with --nats-password")
	fs.StringVar(&n.Password, "nats-password", "", "NATS `password` of --nats-user; prefer the environment variable")
	fs.StringVar(&n.Token, "nats-token", "", "NATS authentication `token` for --nats-url; prefer the environment variable")
	fs.StringVar(&n.CA, "nats-ca", "", "PEM `file` of CA certificates that verify the NATS servers' TLS certificates (implies TLS)")
	fs.StringVar(&n.Cert, "nats-cert", "", "PEM `file` with the client certificate presented to NATS (mutual TLS), with --nats-key")
	fs.StringVar(&n.Key, "nats-key", "", "PEM `file` with the private key of --nats-cert")
}

// embedded reports whether serve runs the embedded NATS server.
func (c *config) embedded() bool {
	return c.Store == storeJetStream && c.NATSURL == ""
}

// validateNATS checks the NATS flags; --nats-embedded turns --store
// jetstream on unless --store was given.
func (c *config) validateNATS() []error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	n := &c.nats
	if n.Embedded && !c.explicit["store"] {
		c.Store = storeJetStream
	}
	check(!n.Embedded || c.Store == storeJetStream, "--nats-embedded needs --store jetstream, not %s", c.Store)
	check(!n.Embedded || c.NATSURL == "", "--nats-embedded and --nats-url exclude each other: embed a server or connect to one")
	embedded := c.embedded()
	embedOnly := map[string]bool{"nats-listen": n.Listen != "", "nats-name": n.Name != "", "cluster-listen": n.ClusterListen != "", "cluster-peers": len(n.ClusterPeers) > 0}
	for name, set := range embedOnly {
		check(!set || embedded, "--%s is a setting of the embedded NATS server (--store jetstream without --nats-url)", name)
	}
	external := map[string]bool{"nats-creds": n.Creds != "", "nats-user": n.User != "", "nats-password": n.Password != "", "nats-token": n.Token != "", "nats-ca": n.CA != "", "nats-cert": n.Cert != "", "nats-key": n.Key != ""}
	for name, set := range external {
		check(!set || c.NATSURL != "", "--%s is a setting of the connection to --nats-url", name)
	}
	check((n.ClusterListen == "") == (len(n.ClusterPeers) == 0), "--cluster-listen and --cluster-peers go together")
	if n.ClusterListen != "" {
		_, _, err := net.SplitHostPort(n.ClusterListen)
		check(err == nil, "--cluster-listen: %v", err)
	}
	for _, p := range n.ClusterPeers {
		_, err := natsnode.PeerURL(p)
		check(err == nil, "--cluster-peers: %v", err)
	}
	check((n.User == "") == (n.Password == ""), "--nats-user and --nats-password go together")
	check((n.Cert == "") == (n.Key == ""), "--nats-cert and --nats-key go together")
	check(n.Creds == "" || (n.User == "" && n.Token == ""), "--nats-creds excludes --nats-user and --nats-token")
	check(n.User == "" || n.Token == "", "--nats-user and --nats-token exclude each other")
	check(n.StartTimeout > 0, "--nats-start-timeout must be positive")
	check(n.Timeout > 0, "--nats-timeout must be positive")
	return errs
}

// options returns the connection options of --nats-url.
func (n *natsConfig) options() []nats.Option {
	opts := []nats.Option{nats.Name("rtbroker"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(false)}
	switch {
	case n.Creds != "":
		opts = append(opts, nats.UserCredentials(n.Creds))
	case n.User != "":
		opts = append(opts, nats.UserInfo(n.User, n.Password))
	case n.Token != "":
		opts = append(opts, nats.Token(n.Token))
	}
	if n.CA != "" {
		opts = append(opts, nats.RootCAs(n.CA))
	}
	if n.Cert != "" {
		opts = append(opts, nats.ClientCert(n.Cert, n.Key))
	}
	return opts
}

// peerCount is the number of cluster nodes the embedded flags describe:
// this one and the peers that are not its own --cluster-listen.
func (n *natsConfig) peerCount() int {
	count := 1
	for _, p := range n.ClusterPeers {
		if u, err := natsnode.PeerURL(p); err == nil && u.Host != n.ClusterListen {
			count++
		}
	}
	return count
}

// replicas is --nats-replicas, or by cluster size when 0: 3 when this
// node's cluster has 3 nodes or more, 1 otherwise.
func (c *config) replicas(nc *nats.Conn) int {
	if c.NATSReplicas > 0 {
		return c.NATSReplicas
	}
	size := 1
	switch {
	case c.embedded():
		size = c.nats.peerCount()
	case nc.ConnectedClusterName() != "":
		size = 3 // a NATS cluster: the size is not told to clients; 3 is the usual
	}
	if size >= 3 {
		return 3
	}
	return 1
}

// connectNATS starts the embedded server (closed by the returned stop
// after the connection) or connects to --nats-url.
func connectNATS(ctx context.Context, cfg *config, log *slog.Logger) (nc *nats.Conn, where string, stop func(), err error) {
	if !cfg.embedded() {
		nc, err := nats.Connect(cfg.NATSURL, cfg.nats.options()...)
		if err != nil {
			return nil, "", nil, fmt.Errorf("connect to NATS %s: %w", cfg.NATSURL, err)
		}
		return nc, cfg.NATSURL, func() {}, nil
	}
	node, err := natsnode.Start(ctx, natsnode.Config{
		Name: cfg.nats.Name, StoreDir: filepath.Join(cfg.Data, "nats"), ClientListen: cfg.nats.Listen,
		ClusterName: cfg.nats.ClusterName, ClusterListen: cfg.nats.ClusterListen, Peers: cfg.nats.ClusterPeers,
		StartTimeout: cfg.nats.StartTimeout, Logger: log,
	})
	if err != nil {
		return nil, "", nil, err
	}
	nc, err = node.Connect(nats.Name("rtbroker"))
	if err != nil {
		node.Shutdown()
		return nil, "", nil, err
	}
	where = "embedded NATS " + node.Name()
	if node.Clustered() {
		where += " in cluster " + cfg.nats.ClusterName
	}
	return nc, where, node.Shutdown, nil
}

// openJetStreamStores opens the log, the state store and the presence
// board, retrying until --nats-start-timeout: right after a cluster
// elects its meta leader, the stream may not be placeable yet (its peers
// still joining).
func openJetStreamStores(ctx context.Context, cfg *config, nc *nats.Conn, log *slog.Logger) (*jetstream.Log, *jetstream.State, *jetstream.Board, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.nats.StartTimeout)
	defer cancel()
	r := cfg.replicas(nc)
	for {
		l, st, board, err := openJetStreamOnce(ctx, cfg, nc, r, log)
		if err == nil {
			return l, st, board, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, nil, fmt.Errorf("JetStream not ready within %s (replicas %d): %w", cfg.nats.StartTimeout, r, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// openAttemptTimeout bounds one attempt of openJetStreamStores: when
// several nodes create the same stream at once, a create request can go
// unanswered; the next attempt finds the stream.
const openAttemptTimeout = 5 * time.Second

// openJetStreamOnce opens the log, the state store and the board once.
func openJetStreamOnce(ctx context.Context, cfg *config, nc *nats.Conn, replicas int, log *slog.Logger) (*jetstream.Log, *jetstream.State, *jetstream.Board, error) {
	ctx, cancel := context.WithTimeout(ctx, openAttemptTimeout)
	defer cancel()
	l, err := jetstream.Open(ctx, nc, jetstream.Config{Replicas: replicas, AckTimeout: cfg.nats.Timeout})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open JetStream log: %w", err)
	}
	st, err := jetstream.OpenState(ctx, nc, jetstream.StateConfig{Replicas: replicas, Timeout: cfg.nats.Timeout})
	if err != nil {
		_ = l.Close()
		return nil, nil, nil, fmt.Errorf("open JetStream state: %w", err)
	}
	board, err := jetstream.OpenBoard(ctx, nc, jetstream.BoardConfig{Replicas: replicas, NodeTTL: cfg.PresenceNodeTTL, Timeout: cfg.nats.Timeout, Logger: log})
	if err != nil {
		_ = st.Close()
		_ = l.Close()
		return nil, nil, nil, fmt.Errorf("open JetStream presence: %w", err)
	}
	return l, st, board, nil
}

// availabilityInterval is how often a JetStream store asks its stream
// whether it can commit (for /readyz).
const availabilityInterval = time.Second

// availability is the last answer of the JetStream stream to "can you
// commit?", refreshed every availabilityInterval by a goroutine it owns.
type availability struct {
	why    atomic.Pointer[string] // nil or "": available
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// watchAvailability starts asking l every availabilityInterval.
func watchAvailability(l *jetstream.Log) *availability {
	ctx, cancel := context.WithCancel(context.Background())
	a := &availability{cancel: cancel}
	a.wg.Go(func() {
		t := time.NewTicker(availabilityInterval)
		defer t.Stop()
		for {
			why := ""
			if err := l.Available(ctx, 2*time.Second); err != nil && ctx.Err() == nil {
				why = "publishes are refused: " + err.Error()
			}
			a.why.Store(&why)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return a
}

// Unavailable says why the store cannot commit now ("" when it can).
func (a *availability) Unavailable() string {
	if p := a.why.Load(); p != nil {
		return *p
	}
	return ""
}

// stop ends the watch and waits for it.
func (a *availability) stop() {
	a.cancel()
	a.wg.Wait()
}
