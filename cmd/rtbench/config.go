package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// config is what a run is told on the command line.
type config struct {
	Scenario  string
	URL       string   // the first of --url: where single-node requests (healthz, room lists) go
	PubURL    string   // --pub-url as given
	URLs      []string // the nodes subscribers connect to, round-robin
	PubURLs   []string // the nodes the publisher's connections go to, round-robin
	Target    string
	Transport string
	Subs      int
	Rooms     int
	Rate      float64
	Size      int
	Duration  time.Duration
	Warmup    time.Duration
	Publisher string
	PubConns  int
	Batch     int
	Src       string
	PerSrc    int
	ServerPID int
	JSON      string

	StepDuration time.Duration
	RateFactor   float64
	MaxP99       time.Duration
	MinDelivery  float64
	MaxLoadCPU   float64
	Events       int
	RestartCmd   string
	RSSAt        []time.Duration // idle: also read the RSS this long after the last connect

	ProcConns        int
	Parallel         int
	ConnectTimeout   time.Duration
	ReconnectTimeout time.Duration
	DrainTimeout     time.Duration
	Quiet            bool
	CPUProfile       string

	set map[string]bool // flags given on the command line
}

// scenarioDefaults returns the flag defaults of a scenario that differ
// from the flags' own, and whether the scenario exists.
func scenarioDefaults(name string) (map[string]string, bool) {
	d, ok := map[string]map[string]string{
		"fanout":  {"duration": "120s", "pub-conns": "64"},
		"rooms":   {"subs": "10000", "rooms": "1000", "rate": "1000"},
		"latency": {"duration": "20s"},
		"idle":    {"subs": "10000", "warmup": "0s"},
		"replay":  {"subs": "1", "warmup": "0s"},
		"storm":   {"subs": "5000", "rate": "100"},
		"ingest":  {"subs": "0", "pub-conns": "32", "size": "1024", "rate": "0"},
		"conns":   {"subs": "19900", "warmup": "0s"},
		"smoke":   {"subs": "3", "rooms": "2", "rate": "50", "duration": "1s", "warmup": "1s", "pub-conns": "4"},
	}[name]
	return d, ok
}

const usage = `rtbench: load tool for rtbroker (and the Node Socket.IO peer).

Usage:
  rtbench <scenario> [flags]

Scenarios (defaults that differ from the flags' own in brackets):
  fanout   one room, --subs subscribers; the publish rate starts at --rate and
           grows ×--rate-factor every --step-duration until two steps in a row
           (the second at the same rate) have p99 > --max-p99 or delivery <
           --min-delivery; reports the best sustained deliveries/s [--pub-conns 64]
           [--duration 120s caps the stepping]
  rooms    --subs subscribers over --rooms rooms, --rate events/s over all rooms
           [--subs 10000 --rooms 1000 --rate 1000]
  latency  --subs subscribers, --rate events/s into one room for --duration
           [--duration 20s]
  idle     --subs idle subscribers; server RSS growth per connection once it
           settles, and at each --rss-at after the last connect (needs
           --server-pid) [--subs 10000]
  replay   --events stored events in one room (published first if missing);
           --subs clients catch up from offset 0 [--subs 1]
  storm    --subs subscribers while publishing at --rate; after --warmup every
           connection is dropped at once (or --restart-cmd runs); all must
           resubscribe and recover every event [--subs 5000 --rate 100]
  ingest   durable HTTP publishes of --size bytes over --pub-conns connections
           for --duration [--subs 0 --pub-conns 32 --size 1024 --rate 0 (max)]
  conns    open --subs connections and hold them for --duration [--subs 19900]
  smoke    every transport (or --transport), a few clients, a drop and recovery;
           seconds [--subs 3 --rooms 2 --rate 50 --duration 1s --warmup 1s]

A cluster: --url takes several nodes' base URLs, comma-separated; the
subscribers of each room are spread over them round-robin, and the
publisher's connections over --pub-url (default: the same nodes).

Exit status: 0 when nothing was missed or duplicated and no connection or
publish failed; 1 otherwise (the JSON is still written); 2 on bad usage.

Flags:
`

// parseConfig reads the scenario and its flags.
func parseConfig(args []string, stderr io.Writer) (*config, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, usage)
		newFlagSet(&config{}, stderr).PrintDefaults()
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil, flag.ErrHelp
		}
		return nil, errors.New("no scenario given")
	}
	c := &config{Scenario: args[0], set: map[string]bool{}}
	defs, ok := scenarioDefaults(c.Scenario)
	if !ok {
		fmt.Fprint(stderr, usage)
		return nil, fmt.Errorf("unknown scenario %q", c.Scenario)
	}
	fs := newFlagSet(c, stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { c.set[f.Name] = true })
	for name, v := range defs {
		if !c.set[name] {
			if err := fs.Set(name, v); err != nil {
				return nil, err
			}
		}
	}
	if !c.set["pub-conns"] && c.Rate > 0 {
		// Each connection has one publish in flight, which waits for a
		// commit (an fsync): allow ~40 ms per publish at the rate asked.
		c.PubConns = min(256, max(c.PubConns, int(c.Rate/25)+1))
	}
	return c, c.validate()
}

func newFlagSet(c *config, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("rtbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "server base URL; several, comma-separated, for a cluster: subscriber i connects to node (i / rooms) mod nodes, so each room's subscribers are spread over the nodes")
	fs.StringVar(&c.PubURL, "pub-url", "", "base URLs the publisher's connections go to, round-robin (comma-separated; default: --url)")
	fs.StringVar(&c.Target, "target", "rtbroker", "server under test: rtbroker, or node (the Node Socket.IO peer: ws and polling only)")
	fs.StringVar(&c.Transport, "transport", "ws", "subscriber transport: ws, polling (Socket.IO), sse, longpoll")
	fs.IntVar(&c.Subs, "subs", 1000, "subscribers")
	fs.IntVar(&c.Rooms, "rooms", 1, "rooms (subscriber i follows room i mod rooms)")
	fs.Float64Var(&c.Rate, "rate", 10, "events published per second, over all rooms (0: as fast as possible)")
	fs.IntVar(&c.Size, "size", 128, "bytes of each event's data")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured duration")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "publishing before the measurement starts (storm: before the drop)")
	fs.StringVar(&c.Publisher, "publisher", "http", "publish over http or sio (Socket.IO WebSocket, acked)")
	fs.IntVar(&c.PubConns, "pub-conns", 16, "publisher connections (with --rate: at least rate/25, at most 256, unless given)")
	fs.IntVar(&c.Batch, "batch", 1, "ingest: events per HTTP request (a JSON array)")
	fs.StringVar(&c.Src, "src", "127.0.0.2", "first client source address (then the next ones); empty: any")
	fs.IntVar(&c.PerSrc, "per-src", 2000, "client connections per source address")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "server process id: sample its RSS and CPU from /proc")
	fs.StringVar(&c.JSON, "json", "", "also write the result as JSON to this file")
	fs.DurationVar(&c.StepDuration, "step-duration", 5*time.Second, "fanout: duration of each rate step")
	fs.Float64Var(&c.RateFactor, "rate-factor", 1.5, "fanout: rate multiplier between steps")
	fs.DurationVar(&c.MaxP99, "max-p99", 250*time.Millisecond, "fanout: a step with a higher p99 ends the run")
	fs.Float64Var(&c.MinDelivery, "min-delivery", 0.99, "fanout: a step delivering less than this share ends the run")
	fs.Float64Var(&c.MaxLoadCPU, "max-load-cpu", 80, "fanout: a step during which this tool used more CPU (% of one core) ends the run and does not count: it measured the tool (0: no limit)")
	fs.IntVar(&c.Events, "events", 100000, "replay: events stored in the room")
	fs.Var(durationsFlag{&c.RSSAt}, "rss-at", "idle: comma-separated `durations` after the last connection opened at which to also read the server's RSS per connection, e.g. 10s,60s (extra.rss_per_conn_<N>s_bytes)")
	fs.StringVar(&c.RestartCmd, "restart-cmd", "", "storm: shell command run (and waited for) instead of dropping the connections, e.g. to restart the server")
	fs.IntVar(&c.ProcConns, "proc-conns", 9000, "connections per process; above, subscribers run in worker processes")
	fs.IntVar(&c.Parallel, "parallel", 256, "connection attempts in flight (over all processes)")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 10*time.Second, "one connection attempt (dial, handshake, subscribe)")
	fs.DurationVar(&c.ReconnectTimeout, "reconnect-timeout", 30*time.Second, "how long a dropped client keeps trying to reconnect")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 5*time.Second, "after publishing, how long to wait for deliveries to progress")
	fs.BoolVar(&c.Quiet, "quiet", false, "no progress lines")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write the tool's own CPU profile (this process) to this file")
	return fs
}

// validate checks the flags' values and combinations.
func (c *config) validate() error {
	var err error
	if c.URLs, err = parseURLs("--url", c.URL); err != nil {
		return err
	}
	c.URL = c.URLs[0]
	pub := c.PubURL
	if pub == "" {
		pub = strings.Join(c.URLs, ",")
	}
	if c.PubURLs, err = parseURLs("--pub-url", pub); err != nil {
		return err
	}
	if !slices.Contains([]string{"rtbroker", "node"}, c.Target) {
		return fmt.Errorf("--target %q: want rtbroker or node", c.Target)
	}
	if !slices.Contains([]string{"ws", "polling", "sse", "longpoll"}, c.Transport) {
		return fmt.Errorf("--transport %q: want ws, polling, sse or longpoll", c.Transport)
	}
	if c.Target == "node" && (c.Transport == "sse" || c.Transport == "longpoll") {
		return fmt.Errorf("--transport %s: the Node peer serves only Socket.IO (ws, polling); use --target rtbroker", c.Transport)
	}
	if c.Publisher != "http" && c.Publisher != "sio" {
		return fmt.Errorf("--publisher %q: want http or sio", c.Publisher)
	}
	if c.Src != "" && net.ParseIP(c.Src).To4() == nil {
		return fmt.Errorf("--src %q: want an IPv4 address", c.Src)
	}
	switch {
	case c.Subs < 0 || (c.Subs == 0 && c.Scenario != "ingest"):
		return fmt.Errorf("--subs %d: want at least 1", c.Subs)
	case c.Rooms < 1:
		return fmt.Errorf("--rooms %d: want at least 1", c.Rooms)
	case c.Rate < 0:
		return fmt.Errorf("--rate %g: want 0 or more", c.Rate)
	case c.Rate == 0 && c.Scenario != "ingest":
		return fmt.Errorf("--rate 0 (unpaced) is for ingest only")
	case c.Size < 0 || c.Size > 1<<20:
		return fmt.Errorf("--size %d: want 0..1048576", c.Size)
	case c.Duration < 0 || c.Warmup < 0:
		return errors.New("--duration and --warmup must not be negative")
	case c.PubConns < 1 || c.Batch < 1 || c.PerSrc < 1 || c.ProcConns < 1 || c.Parallel < 1:
		return errors.New("--pub-conns, --batch, --per-src, --proc-conns and --parallel must be at least 1")
	case c.StepDuration <= 0 || c.RateFactor <= 1:
		return errors.New("--step-duration must be positive and --rate-factor above 1")
	case c.MaxLoadCPU < 0:
		return fmt.Errorf("--max-load-cpu %g: want ≥ 0", c.MaxLoadCPU)
	case c.MinDelivery < 0 || c.MinDelivery > 1:
		return fmt.Errorf("--min-delivery %g: want 0..1", c.MinDelivery)
	case c.Events < 1:
		return fmt.Errorf("--events %d: want at least 1", c.Events)
	case c.ConnectTimeout <= 0 || c.ReconnectTimeout <= 0 || c.DrainTimeout <= 0:
		return errors.New("--connect-timeout, --reconnect-timeout and --drain-timeout must be positive")
	case len(c.RSSAt) > 0 && c.Scenario != "idle":
		return errors.New("--rss-at is for idle only")
	case c.Scenario == "idle" && c.ServerPID == 0:
		return errors.New("idle measures the server's memory: give --server-pid")
	case c.Batch > 1 && c.Publisher != "http":
		return errors.New("--batch needs --publisher http")
	}
	return nil
}

// parseURLs splits a comma-separated list of base URLs (http://host:port,
// optionally with a path) and trims their trailing slashes.
func parseURLs(flagName, v string) ([]string, error) {
	var out []string
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		u, err := url.Parse(part)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			return nil, fmt.Errorf("%s %q: want http://host:port (several: comma-separated)", flagName, part)
		}
		out = append(out, strings.TrimSuffix(part, "/"))
	}
	return out, nil
}

// nodeOf is the node (index into nodes URLs) subscriber i of a run with
// rooms rooms connects to: the subscribers of one room (i, i+rooms, …)
// go round-robin over the nodes.
func nodeOf(i, rooms, nodes int) int {
	if nodes <= 1 || rooms < 1 {
		return 0
	}
	return (i / rooms) % nodes
}

// durationsFlag is a comma-separated list of positive durations, kept in
// ascending order.
type durationsFlag struct{ d *[]time.Duration }

func (f durationsFlag) String() string {
	if f.d == nil {
		return ""
	}
	var parts []string
	for _, d := range *f.d {
		parts = append(parts, d.String())
	}
	return strings.Join(parts, ",")
}

func (f durationsFlag) Set(v string) error {
	var out []time.Duration
	for part := range strings.SplitSeq(v, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			return fmt.Errorf("%q: want positive durations such as 10s,60s", v)
		}
		out = append(out, d)
	}
	slices.Sort(out)
	*f.d = slices.Compact(out)
	return nil
}
