package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/httpapi"
	"github.com/rtbroker/rtbroker/gateways/limit"
	"github.com/rtbroker/rtbroker/gateways/longpoll"
	"github.com/rtbroker/rtbroker/gateways/messages"
	"github.com/rtbroker/rtbroker/gateways/presence"
	"github.com/rtbroker/rtbroker/gateways/receipts"
	"github.com/rtbroker/rtbroker/gateways/socketio"
	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
	"github.com/rtbroker/rtbroker/gateways/sse"
	"github.com/rtbroker/rtbroker/gateways/typing"
	"github.com/rtbroker/rtbroker/storage/bolt"
	"github.com/rtbroker/rtbroker/storage/jetstream"
)

// config is everything `rtbroker serve` can be told. Every field has a flag
// --name, an environment variable RTBROKER_NAME and a key name in the
// --config file (config_file.go); flags win over the environment, which
// wins over the file.
type config struct {
	ConfigFile      string // --config: the TOML file of settings
	Addr            string
	TLSCert         string // PEM certificate chain; with TLSKey, serve HTTPS (and HTTP/2)
	TLSKey          string // PEM private key of TLSCert
	PprofAddr       string
	Data            string
	Store           string        // storeBolt or storeJetStream
	NATSURL         string        // with --store jetstream
	NATSReplicas    int           // the stream's and buckets' replicas (0: by cluster size)
	nats            natsConfig    // the embedded server, credentials, TLS (cluster.go)
	PresenceNodeTTL time.Duration // with --store jetstream: a dead node's members count this long at most
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration

	TailSize          int
	MaxBatch          int
	MaxDataSize       int
	MaxBodySize       int64
	JournalSize       int64 // bytes of a new journal beside the bbolt file
	RetentionMaxAge   time.Duration
	RetentionMaxCount int
	RetentionInterval time.Duration
	IdempotencyWindow time.Duration

	RetentionRules string                 // --retention-rules: PATTERN=AGE[/COUNT],… (retention.go)
	retentionRules []broker.RetentionRule // parsed by validate
	UnreadMaxRooms int                    // rooms one unread listing returns at most
	UnreadMaxCount int                    // an unread count's cap

	PollTimeout    time.Duration
	PollMaxTimeout time.Duration
	SSEHeartbeat   time.Duration
	SSERetry       time.Duration
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration
	ReadTimeout    time.Duration
	MaxRooms       int
	MaxHistory     int
	TypingTimeout  time.Duration
	MaxTypists     int

	AllowedOrigins  []string
	AllowedHosts    []string
	TrustedProxies  []string // addresses or CIDR prefixes whose X-Forwarded-For is believed
	MetricsAddr     string
	SIONamespaces   []string
	SIOPingInterval time.Duration
	SIOPingTimeout  time.Duration
	SIOMaxPayload   int64

	// Security (see authenticator). Secrets are never logged or printed.
	JWTSecret          string
	JWTPublicKey       string
	JWTAlg             string
	JWKSURL            string
	JWKSRefresh        time.Duration
	JWTLeeway          time.Duration
	JWTIssuer          string
	JWTAudience        string
	Anonymous          *bool // nil: on unless a secret, key or API key is configured
	AnonymousSubscribe []string
	AnonymousPublish   []string
	APIKeys            []string

	// Authorization policy (auth.PolicyFile, merged by policy.go): the
	// --policy file and the flags that are shortcuts for parts of it.
	Policy        string            // JSON file: defaults, Socket.IO namespaces, scoped API keys, auto-join
	UserSubscribe []string          // patterns every token holder may subscribe to (and read)
	UserPublish   []string          // patterns every token holder may publish to
	AutoJoin      []string          // rooms of / every token socket joins at connect
	ModeratorRole string            // the role that may edit and delete any message
	AdminRole     string            // the token role allowed the operator endpoints (admin API, backup, metrics)
	explicit      map[string]bool   // flags set on the command line, in the environment or in the file
	sources       map[string]string // where each explicit flag's value came from: "flag", "env NAME", "file PATH:LINE"
	warnings      []string          // about the settings, logged at WARN by serve (a secret in a file others may read)
	pol           *auth.Policy      // loaded by loadPolicy

	// Abuse limits (see gateways/limit).
	PublishRate   string // "N/s", "N/m", "N/h" or "0" (off)
	PublishBurst  int
	MaxConnsPerIP int
	publishPerSec float64 // PublishRate, parsed by validate

	// More abuse limits: new connections per IP, Socket.IO acks in flight.
	ConnectRate       string // "N/s", "N/m", "N/h" or "0" (off)
	ConnectBurst      int
	SIOMaxPending     int
	SIORecoveryWindow time.Duration
	connectPerSec     float64 // ConnectRate, parsed by validate

	PresenceMaxList   int           // rooms with more users answer presence with counts only
	PresencePollGrace time.Duration // a long-poll client stays present this long after its last poll
	PresenceEvents    bool          // send presence:join and presence:leave
	// Edit and delete (gateways/messages).
	RebuildMessages bool // rebuild the folded view's projection from the log at start
	MessagesMaxScan int  // log events one page of the folded view reads at most

	MemoryRelease bool // return freed memory to the OS after connection bursts (memtrim.go)
	BusyGCPercent int  // GOGC while the broker is busy publishing; 0: Go's GC left alone (gcpace.go)
}

// optBool is a boolean flag that remembers whether it was set.
type optBool struct{ p **bool }

func (o optBool) IsBoolFlag() bool { return true }

func (o optBool) String() string {
	if o.p == nil || *o.p == nil {
		return ""
	}
	return strconv.FormatBool(**o.p)
}

func (o optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*o.p = &v
	return nil
}

// listFlag is a comma-separated list flag.
type listFlag struct{ p *[]string }

func (l listFlag) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l listFlag) Set(s string) error {
	*l.p = nil
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l.p = append(*l.p, v)
		}
	}
	return nil
}

// envPrefix prefixes the environment variable of every flag.
const envPrefix = "RTBROKER_"

// envName maps a flag name to its environment variable: data-dir → RTBROKER_DATA_DIR.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (c *config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.ConfigFile, configFileFlag, "", "TOML `file` of settings whose keys are these flags' names (max-history = 500); flags and environment variables win over it")
	fs.StringVar(&c.Addr, "addr", ":8080", "`host:port` to listen on")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM `file` with the server certificate (chain); with --tls-key, serve HTTPS and HTTP/2")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM `file` with the private key of --tls-cert")
	fs.StringVar(&c.PprofAddr, "pprof-addr", "", "`host:port` for Go's /debug/pprof profiler (off when empty; keep it private)")
	fs.StringVar(&c.Data, "data", "./data", "`dir`ectory of the bbolt log (created if missing)")
	fs.StringVar(&c.Store, "store", storeBolt, "where events and state live: bolt (the file in --data) or jetstream (NATS at --nats-url, or a NATS server embedded in this process with its files in --data)")
	fs.StringVar(&c.NATSURL, "nats-url", "", "NATS `URL`s (comma-separated) of a JetStream server or cluster, with --store jetstream")
	fs.IntVar(&c.NATSReplicas, "nats-replicas", 0, "replicas of the JetStream stream and buckets rtbroker creates (0: 3 in a cluster of 3 or more nodes, 1 otherwise)")
	c.nats.flags(fs)
	fs.DurationVar(&c.PresenceNodeTTL, "presence-node-ttl", jetstream.DefaultNodeTTL, "with --store jetstream: how long a node that died (no clean stop) still counts its members present (its heartbeat's TTL, at least 3s)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log `level`: debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log `format`: text or json")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long shutdown waits for requests to finish")

	fs.IntVar(&c.TailSize, "tail-size", broker.DefaultTailSize, "recent events kept in memory for live subscribers")
	fs.IntVar(&c.MaxBatch, "max-batch", broker.DefaultMaxBatch, "publishes that share one commit (transaction + fsync) at most")
	fs.IntVar(&c.MaxDataSize, "max-data-size", broker.DefaultMaxDataSize, "largest event data in `bytes`")
	fs.Int64Var(&c.MaxBodySize, "max-body-size", httpapi.DefaultMaxBodySize, "largest publish request body in `bytes`")
	fs.Int64Var(&c.JournalSize, "journal-size", bolt.DefaultJournalSize, "`bytes` of the journal a new bbolt log writes its commits to (rtbroker.db-journal, written with zeros once; at least 65536)")
	fs.DurationVar(&c.RetentionMaxAge, "retention-max-age", 0, "remove events older than this (0 keeps all)")
	fs.IntVar(&c.RetentionMaxCount, "retention-max-count", 0, "keep at most this many events per room (0 keeps all)")
	fs.DurationVar(&c.RetentionInterval, "retention-interval", broker.DefaultRetentionInterval, "how often retention runs")
	fs.DurationVar(&c.IdempotencyWindow, "idempotency-window", 24*time.Hour, "how long Idempotency-Key values are remembered")
	fs.StringVar(&c.RetentionRules, "retention-rules", "", "per-room retention, first match wins: comma-separated `PATTERN=AGE[/COUNT]` (AGE: 1h, 30d, forever), e.g. chat:*=30d,progress:*=1h,dm:*=forever; rooms no rule matches get --retention-max-age/--retention-max-count; or the policy file's retention_rules (not both)")
	fs.IntVar(&c.UnreadMaxRooms, "unread-max-rooms", receipts.DefaultMaxRooms, "rooms GET /api/me/rooms and me:rooms list at most")
	fs.IntVar(&c.UnreadMaxCount, "unread-max-count", receipts.DefaultMaxUnread, "an unread count stops at this many events (reported with unread_capped)")

	fs.DurationVar(&c.PollTimeout, "poll-timeout", longpoll.DefaultHold, "default hold of a long-poll request")
	fs.DurationVar(&c.PollMaxTimeout, "poll-max-timeout", longpoll.DefaultMaxTimeout, "longest hold a long-poll request may ask for")
	fs.DurationVar(&c.SSEHeartbeat, "sse-heartbeat", sse.DefaultHeartbeat, "interval of SSE heartbeat comments")
	fs.DurationVar(&c.SSERetry, "sse-retry", sse.DefaultRetry, "reconnect delay suggested to EventSource clients")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", sse.DefaultWriteTimeout, "a streaming client that does not read for this long is dropped")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", engineio.DefaultIdleTimeout, "a keep-alive HTTP connection (Socket.IO polling, long-poll, API) that sends no request for this long is closed")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", limit.DefaultReadTimeout, "a request body (publish, Engine.IO polling POST) not received within this is answered 408 and its connection closed (0: no limit); streams are not affected")
	fs.IntVar(&c.MaxRooms, "max-rooms", sse.DefaultMaxRooms, "rooms one SSE or long-poll request, or one Socket.IO socket, may follow")
	fs.IntVar(&c.MaxHistory, "max-history", sse.DefaultMaxHistory, "largest `history` a Socket.IO room:join, SSE stream or long-poll may ask for (each room's last N events, then live)")
	fs.DurationVar(&c.TypingTimeout, "typing-timeout", typing.DefaultTimeout, "a typist that sends no typing:start for this long is sent a typing:stop by the server")
	fs.IntVar(&c.MaxTypists, "max-typists", typing.DefaultMaxTypists, "typists (a user in a room) tracked at once; a typing:start over it is refused rate_limited")

	fs.Var(listFlag{&c.AllowedOrigins}, "allowed-origins", "comma-separated `origins` allowed cross-site: CORS for /api/*, /sse, /poll and Socket.IO polling, the Origin check of WebSocket upgrades, the CSRF allow-list of cookie-authenticated publishes; * for any origin but null; empty: same-site only")
	fs.Var(listFlag{&c.TrustedProxies}, "trusted-proxies", "comma-separated `addresses or CIDR prefixes` of the proxies in front of the server: a request from one of them is taken to come from the rightmost X-Forwarded-For address that is not one of them (rates, presence, the connection list); empty: the header is ignored")
	fs.Var(listFlag{&c.AllowedHosts}, "allowed-hosts", "comma-separated host `names` the server answers to besides IP addresses and localhost (DNS-rebinding guard); checked when set, and always when anonymous access is on and --addr is a loopback address; * turns the check off")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "`host:port` serving /metrics on a listener of its own, without credentials (keep it private); when empty /metrics is on --addr, open only while no credential is configured, otherwise for admin API keys")
	c.SIONamespaces = []string{"/"}
	fs.Var(listFlag{&c.SIONamespaces}, "sio-namespaces", "comma-separated Socket.IO `namespaces`; a room R of /name is the log room name:R")
	fs.DurationVar(&c.SIOPingInterval, "sio-ping-interval", engineio.DefaultPingInterval, "Engine.IO ping interval")
	fs.DurationVar(&c.SIOPingTimeout, "sio-ping-timeout", engineio.DefaultPingTimeout, "Engine.IO ping timeout")
	fs.Int64Var(&c.SIOMaxPayload, "sio-max-payload", engineio.DefaultMaxPayload, "largest Engine.IO message or polling body in `bytes`")

	fs.StringVar(&c.JWTSecret, "jwt-secret", "", "HMAC `key` verifying client tokens (HS256, or --jwt-alg HS384/HS512); prefer the environment variable")
	fs.StringVar(&c.JWTPublicKey, "jwt-public-key", "", "PEM `file` with the public key verifying client tokens (RSA: RS256 or --jwt-alg RS*/PS*; ECDSA: ES*; Ed25519: EdDSA)")
	fs.StringVar(&c.JWKSURL, "jwks-url", "", "`URL` of a JSON Web Key Set verifying client tokens by kid (RSA, EC, Ed25519 keys); the server does not start if it cannot be fetched")
	fs.DurationVar(&c.JWKSRefresh, "jwks-refresh", auth.DefaultJWKSRefresh, "how often the --jwks-url set is fetched again (also on an unknown kid, at most every 10s)")
	fs.StringVar(&c.JWTAlg, "jwt-alg", "", "the only token signing `algorithm` accepted (default: from the key type); none is never accepted")
	fs.DurationVar(&c.JWTLeeway, "jwt-leeway", auth.DefaultLeeway, "clock skew allowed on a token's exp, nbf and iat")
	fs.StringVar(&c.JWTIssuer, "jwt-issuer", "", "required token iss (not checked when empty)")
	fs.StringVar(&c.JWTAudience, "jwt-audience", "", "required token aud (not checked when empty)")
	fs.Var(optBool{&c.Anonymous}, "anonymous", "let clients without a token in, with the anonymous permissions (default: true unless a secret, key or API key is configured)")
	c.AnonymousSubscribe, c.AnonymousPublish = []string{"*"}, []string{"*"}
	fs.Var(listFlag{&c.AnonymousSubscribe}, "anonymous-subscribe", "comma-separated room `patterns` anonymous clients may subscribe to and read the history of")
	fs.Var(listFlag{&c.AnonymousPublish}, "anonymous-publish", "comma-separated room `patterns` anonymous clients may publish to")
	fs.StringVar(&c.PublishRate, "publish-rate", "100/s", "publishes one identity may make (`N/s`, N/m or N/h; 0: no limit), over REST and Socket.IO together; anonymous clients share their IP's bucket; API keys are exempt")
	fs.IntVar(&c.PublishBurst, "publish-burst", 200, "publishes an identity may make at once above --publish-rate")
	fs.IntVar(&c.MaxConnsPerIP, "max-conns-per-ip", 1000, "open connections, and open SSE streams, long-polls and Socket.IO sessions, one client IP may hold (each counted against this cap; 0: no limit); behind a proxy every client has the proxy's IP, unless --trusted-proxies names it (then the streams and sessions are counted per client, the connections still per proxy)")
	fs.StringVar(&c.ConnectRate, "connect-rate", "50/s", "new SSE streams, long-polls and Socket.IO (Engine.IO) sessions one client IP may open (`N/s`, N/m or N/h; 0: no limit)")
	fs.IntVar(&c.ConnectBurst, "connect-burst", 200, "connections a client IP may open at once above --connect-rate")
	fs.DurationVar(&c.SIORecoveryWindow, "sio-recovery-window", socketio.DefaultRecoveryWindow, "how long a Socket.IO session stays recoverable after its record was last written (at connect, join and leave, and at disconnect when older than 1/16 of this)")
	fs.IntVar(&c.SIOMaxPending, "sio-max-pending", socketio.DefaultMaxPending, "publishes, joins and leaves one Socket.IO socket may have awaiting their ack; more are refused with rate_limited")
	fs.Var(listFlag{&c.APIKeys}, "api-key", "comma-separated server-to-server `keys` (sent as Authorization: Bearer KEY or X-API-Key), allowed everything, publishing as from \"api\"")
	fs.StringVar(&c.Policy, "policy", "", "JSON `file` with the authorization policy: defaults for token holders and anonymous clients, Socket.IO namespaces (role, defaults, auto-join), scoped API keys (see README)")
	fs.Var(listFlag{&c.UserSubscribe}, "user-subscribe", "comma-separated room `patterns` every token holder may subscribe to and read, on top of its token's rooms claim ({sub}: its subject)")
	fs.Var(listFlag{&c.UserPublish}, "user-publish", "comma-separated room `patterns` every token holder may publish to, on top of its token's rooms claim")
	fs.IntVar(&c.PresenceMaxList, "presence-max-list", presence.DefaultMaxList, "largest room (in users) whose presence is answered with the member list; above it, counts only")
	fs.BoolVar(&c.PresenceEvents, "presence-events", false, "send presence:join and presence:leave events to every subscriber of the rooms (every transport), not only to the subscriptions that ask for them")
	fs.DurationVar(&c.PresencePollGrace, "presence-poll-grace", presence.DefaultPollGrace, "how long a long-poll client stays present after its last poll ended with no new one")
	fs.StringVar(&c.AdminRole, "admin-role", "", "token `role` whose holders may use the operator endpoints (/api/admin/…, /api/backup, /metrics) as an admin API key may; empty: none")
	fs.StringVar(&c.ModeratorRole, "moderator-role", "", "token `role` whose holders may edit and delete any message in the rooms they may publish to (policy file: moderator_role)")
	fs.BoolVar(&c.MemoryRelease, "memory-release", defaultMemoryRelease, "once a burst of at least 256 new connections has ended, return freed memory to the operating system (at most every 10 s); false leaves it to the Go runtime")
	fs.IntVar(&c.BusyGCPercent, "busy-gc-percent", defaultBusyGCPercent, "the Go GC's GOGC while at least 500 events a second are published (100, Go's default, otherwise): fewer collections under load, up to 3× the live heap instead of 2×; 0 leaves the GC alone, as does setting GOGC")
	fs.BoolVar(&c.RebuildMessages, "rebuild-messages", false, "rebuild the folded message view's records from the log at start (done anyway when they were never built)")
	fs.IntVar(&c.MessagesMaxScan, "messages-max-scan", messages.DefaultMaxScan, "log events one page of GET /api/rooms/{room}/messages reads at most to fill itself (edits and deleted messages are skipped)")
	fs.Var(listFlag{&c.AutoJoin}, "auto-join", "comma-separated `rooms` of the Socket.IO namespace / that every socket with a token joins when it connects, e.g. user:{sub}")
}

// parseConfig parses args (flags after the subcommand), the environment
// and the --config file, then validates the result. It returns
// flag.ErrHelp after printing help for -h.
func parseConfig(name string, args []string, getenv func(string) string, out io.Writer) (*config, error) {
	c, _, err := loadConfig(name, args, getenv, out)
	if err != nil {
		return nil, err
	}
	return c, c.validate()
}

// loadConfig layers the settings: a flag given in args wins, then its
// environment variable, then the --config file (named by the flag or
// RTBROKER_CONFIG), then its default. It does not validate; the FlagSet
// it returns holds the values (rtbroker config prints them).
func loadConfig(name string, args []string, getenv func(string) string, out io.Writer) (*config, *flag.FlagSet, error) {
	c := &config{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	c.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: rtbroker %s [flags]\n\nEvery flag can also be set with its environment variable, or as a key of the\n--config file (flags win over the environment, which wins over the file).\n\n", name)
		fs.VisitAll(func(f *flag.Flag) {
			kind, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(out, "  --%s %s\n    \t%s (env %s", f.Name, kind, usage, envName(f.Name))
			if def := defaultText(f); def != "" && def != "0" && def != "0s" {
				fmt.Fprintf(out, ", default %s", def)
			}
			fmt.Fprintln(out, ")")
		})
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.sources = map[string]string{}
	fs.Visit(func(f *flag.Flag) { c.sources[f.Name] = "flag" })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if c.sources[f.Name] != "" {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, envError(f, v, err))
			}
			c.sources[f.Name] = "env " + envName(f.Name)
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	if c.ConfigFile != "" {
		settings, err := readConfigFile(c.ConfigFile, fs)
		if err != nil {
			return nil, nil, err
		}
		for _, s := range settings {
			if c.sources[s.Key] == "" {
				fs.Set(s.Key, s.Value) // checked by readConfigFile
				c.sources[s.Key] = fmt.Sprintf("file %s:%d", c.ConfigFile, s.Line)
			}
		}
		c.warnings = append(c.warnings, secretFileWarnings(c.ConfigFile, settings)...)
	}
	if getenv("GOGC") != "" { // the operator paces the GC: leave it alone
		fs.Set("busy-gc-percent", "0")
		c.sources["busy-gc-percent"] = "env GOGC"
	}
	c.explicit = map[string]bool{}
	for k := range c.sources {
		c.explicit[k] = true
	}
	return c, fs, nil
}

func (c *config) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.Addr != "", "--addr is empty")
	if _, err := newTrustedProxies(c.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	check(c.Data != "", "--data is empty")
	check(c.Store == storeBolt || c.Store == storeJetStream, "--store must be bolt or jetstream, not %q", c.Store)
	errs = append(errs, c.validateNATS()...)
	check(c.NATSReplicas >= 0 && c.NATSReplicas <= 5, "--nats-replicas must be 0 (by cluster size) to 5")
	check(c.PresenceNodeTTL >= 3*time.Second, "--presence-node-ttl must be at least 3s (its heartbeat is renewed every third of it, in whole seconds)")
	check((c.TLSCert == "") == (c.TLSKey == ""), "--tls-cert and --tls-key go together: give both (HTTPS) or neither (plain HTTP)")
	check(c.TailSize > 0, "--tail-size must be positive")
	check(c.BusyGCPercent >= 0, "--busy-gc-percent cannot be negative")
	check(c.MaxBatch > 0, "--max-batch must be positive")
	check(c.MaxDataSize > 0, "--max-data-size must be positive")
	check(c.MaxBodySize > 0, "--max-body-size must be positive")
	check(c.JournalSize >= 64<<10, "--journal-size must be at least 65536 bytes")
	check(c.RetentionMaxAge >= 0 && c.RetentionMaxCount >= 0, "retention limits cannot be negative")
	check(c.RetentionInterval > 0, "--retention-interval must be positive")
	rules, rerr := parseRetentionRules(c.RetentionRules)
	c.retentionRules = rules
	check(rerr == nil, "--retention-rules: %v", rerr)
	check(c.UnreadMaxRooms > 0 && c.UnreadMaxCount > 0, "--unread-max-rooms and --unread-max-count must be positive")
	c.clampPollTimeout()
	check(c.PollTimeout > 0 && c.PollMaxTimeout >= c.PollTimeout, "need 0 < --poll-timeout (%s) <= --poll-max-timeout (%s)", shortDuration(c.PollTimeout), shortDuration(c.PollMaxTimeout))
	check(c.SSEHeartbeat > 0 && c.SSERetry > 0 && c.WriteTimeout > 0, "SSE intervals and --write-timeout must be positive")
	check(c.MaxRooms > 0, "--max-rooms must be positive")
	check(c.MaxHistory > 0, "--max-history must be positive")
	check(c.TypingTimeout > 0 && c.MaxTypists > 0, "--typing-timeout and --max-typists must be positive")
	check(c.ReadTimeout >= 0, "--read-timeout cannot be negative")
	check(c.IdleTimeout > 0, "--idle-timeout must be positive")
	check(c.SIOPingInterval > 0 && c.SIOPingTimeout > 0 && c.SIOMaxPayload > 0, "Socket.IO ping interval, timeout and max payload must be positive")
	for _, n := range c.SIONamespaces {
		check(strings.HasPrefix(n, "/"), "--sio-namespaces: %q must start with /", n)
	}
	_, err := c.logLevel()
	check(err == nil, "--log-level: %v", err)
	check(c.LogFormat == "text" || c.LogFormat == "json", "--log-format must be text or json")
	check(c.JWTLeeway >= 0, "--jwt-leeway cannot be negative")
	check(c.JWKSRefresh > 0, "--jwks-refresh must be positive")
	c.publishPerSec, err = limit.ParseRate(c.PublishRate)
	check(err == nil, "--publish-rate: %v", err)
	check(c.PublishBurst > 0, "--publish-burst must be positive")
	check(c.MaxConnsPerIP >= 0, "--max-conns-per-ip cannot be negative")
	c.connectPerSec, err = limit.ParseRate(c.ConnectRate)
	check(err == nil, "--connect-rate: %v", err)
	check(c.ConnectBurst > 0, "--connect-burst must be positive")
	check(c.SIOMaxPending > 0, "--sio-max-pending must be positive")
	check(c.SIORecoveryWindow > 0, "--sio-recovery-window must be positive")
	return errors.Join(errs...)
}

func (c *config) logLevel() (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(c.LogLevel))
	return l, err
}

func (c *config) logger(w io.Writer) *slog.Logger {
	level, _ := c.logLevel()
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
