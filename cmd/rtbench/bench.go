package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

// bench is one run of a scenario: its subscribers, its publisher, its
// meters and its result.
type bench struct {
	cfg    *config
	stderr io.Writer
	res    *result
	rooms  []string
	grp    *group     // nil without subscribers
	pub    *publisher // nil until publishing
	exp    []uint64   // when set, the expected counts per room (else the publisher's)
	start  time.Time

	mu    sync.Mutex // guards grp and pub (for the progress goroutine), phase
	phase string
	last  *fleetStats // the progress line's previous stats
	lastT time.Time
	lastP uint64
}

func newBench(cfg *config, stderr io.Writer) *bench {
	b := &bench{
		cfg: cfg, stderr: stderr, start: time.Now(),
		res: &result{
			Scenario: cfg.Scenario, Target: cfg.Target, Transport: cfg.Transport,
			Subs: cfg.Subs, Rooms: cfg.Rooms, Rate: cfg.Rate, Extra: map[string]any{},
		},
	}
	if len(cfg.URLs) > 1 || len(cfg.PubURLs) > 1 || cfg.PubURLs[0] != cfg.URLs[0] {
		b.res.Extra["nodes"] = cfg.URLs
		b.res.Extra["pub_nodes"] = cfg.PubURLs
	}
	return b
}

// newRooms names fresh rooms for this run: nothing else publishes there,
// so every event a subscriber gets is the run's own.
func (b *bench) newRooms() {
	var r [4]byte
	rand.Read(r[:])
	prefix := "bench-" + hex.EncodeToString(r[:]) + "-"
	b.rooms = make([]string, b.cfg.Rooms)
	for i := range b.rooms {
		b.rooms[i] = fmt.Sprintf("%s%d", prefix, i)
	}
}

func (b *bench) setPhase(p string) {
	b.mu.Lock()
	b.phase = p
	b.mu.Unlock()
}

// logf writes a line to stderr.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "[%5.1fs] %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, args...))
}

// checkServer fails early when a node of the server (any of --url and
// --pub-url) does not answer /healthz.
func (b *bench) checkServer(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, base := range slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(b.cfg.URLs), b.cfg.PubURLs...)))) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("server %s not reachable: %w", base, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("server %s/healthz: HTTP %d", base, resp.StatusCode)
		}
	}
	return nil
}

// waitHealthy polls /healthz until it answers 200 or bound passes.
func (b *bench) waitHealthy(ctx context.Context, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for {
		err := b.checkServer(ctx)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// spec is the fleet spec of the run's subscribers.
func (b *bench) spec(subs int) fleetSpec {
	c := b.cfg
	return fleetSpec{
		URLs: c.URLs, Transport: c.Transport, Rooms: b.rooms, Lo: 0, Hi: subs,
		Src: c.Src, PerSrc: c.PerSrc, FromZero: c.Target == "rtbroker", Latency: true,
		Parallel: c.Parallel, ConnectTimeout: c.ConnectTimeout, ReconnectTimeout: c.ReconnectTimeout,
	}
}

// subscribe starts the subscribers and waits until each has subscribed
// or failed; the connect figures go into the result.
func (b *bench) subscribe(ctx context.Context, spec fleetSpec) error {
	b.setPhase("connecting")
	t := time.Now()
	g, err := startGroup(spec, b.cfg.ProcConns, b.stderr)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.grp = g
	b.mu.Unlock()
	if err := g.waitSettled(ctx); err != nil {
		return err
	}
	s, err := g.stats(nil)
	if err != nil {
		return err
	}
	b.res.ConnectMs = connectOf(s.Connect)
	b.res.ConnectFailures = s.Failures
	b.res.Extra["connect_s"] = seconds(time.Since(t))
	if len(g.remotes) > 0 {
		b.res.Extra["processes"] = len(g.remotes)
	}
	b.logf("%d/%d subscribed in %.1f s (%d failed)", s.Subscribed, s.Clients, time.Since(t).Seconds(), s.Failures)
	for _, e := range s.Errors {
		b.logf("  %s", e)
	}
	return nil
}

// newPublisher creates the run's publisher.
func (b *bench) newPublisher() *publisher {
	c := b.cfg
	p := newPublisher(c.Publisher, c.PubURLs, b.rooms, c.Size, c.Batch, c.PubConns, c.ConnectTimeout)
	b.setPub(p)
	return p
}

func (b *bench) setPub(p *publisher) {
	b.mu.Lock()
	b.pub = p
	b.mu.Unlock()
}

// current returns the subscribers and the publisher (either may be nil).
func (b *bench) current() (*group, *publisher) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.grp, b.pub
}

// expected is how many events each room's subscribers should have.
func (b *bench) expected() []uint64 {
	if b.exp != nil {
		return b.exp
	}
	_, pub := b.current()
	if pub == nil {
		return make([]uint64, len(b.rooms))
	}
	return pub.ackedCounts()
}

// stats returns the subscribers' merged stats (empty without any).
func (b *bench) stats(expected []uint64) *fleetStats {
	grp, _ := b.current()
	if grp == nil {
		return &fleetStats{Latency: &Snapshot{}, Connect: &Snapshot{}, Replay: &Snapshot{}}
	}
	s, err := grp.stats(expected)
	if err != nil {
		b.logf("stats: %v", err)
	}
	if s.Latency == nil {
		s.Latency, s.Connect, s.Replay = &Snapshot{}, &Snapshot{}, &Snapshot{}
	}
	return s
}

// loadPIDs are the load generator's processes.
func (b *bench) loadPIDs() []int {
	p := []int{os.Getpid()}
	if grp, _ := b.current(); grp != nil {
		p = append(p, grp.pids()...)
	}
	return p
}

// meters measures the load generator's CPU, and the server's with
// --server-pid, from now on.
type meters struct {
	load, server *cpuMeter
	commits      commitSnap // rtbroker's commit histograms as the window began
	t0           time.Time
}

func (b *bench) startMeters() meters {
	m := meters{load: startCPU(b.loadPIDs()...)}
	if b.cfg.ServerPID > 0 {
		m.server = startCPU(b.cfg.ServerPID)
	}
	if b.cfg.Target == "rtbroker" {
		m.commits = scrapeCommits(context.Background(), b.cfg.PubURLs)
	}
	m.t0 = time.Now()
	return m
}

// read puts the CPU used since startMeters (and the server's RSS and
// commits) into the result.
func (b *bench) readMeters(m meters) {
	if m.commits.ok {
		b.res.Server.Commit = scrapeCommits(context.Background(), b.cfg.PubURLs).figures(m.commits, time.Since(m.t0))
	}
	for _, p := range b.loadPIDs() {
		// Workers started after the meter (replay connects while measured).
		m.load.include(p)
	}
	if v, ok := m.load.pct(); ok {
		b.res.LoadCPUPct = round1(v)
		if v > 80 {
			b.res.Extra["warning"] = fmt.Sprintf("load generator CPU %.0f%% > 80%%: figures limited by the tool", v)
		}
	}
	if m.server != nil {
		if v, ok := m.server.pct(); ok {
			b.res.Server.CPUPct = round1(v)
		}
		if rss, err := procRSS(b.cfg.ServerPID); err == nil {
			b.res.Server.RSSBytes = rss
		}
	}
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// progress prints a line every second until ctx ends.
func (b *bench) progress(ctx context.Context) {
	if b.cfg.Quiet {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		b.progressLine()
	}
}

func (b *bench) progressLine() {
	s := b.stats(b.expected())
	now := time.Now()
	_, p := b.current()
	var pub, pubErr uint64
	if p != nil {
		pub, pubErr = p.published(), p.errors.Load()
	}
	b.mu.Lock()
	phase, last, lastT, lastP := b.phase, b.last, b.lastT, b.lastP
	b.last, b.lastT, b.lastP = s, now, pub
	b.mu.Unlock()
	if last == nil {
		last, lastT = &fleetStats{Latency: &Snapshot{}}, b.start
	}
	el := now.Sub(lastT).Seconds()
	p99 := ms(s.Latency.Sub(last.Latency).Quantile(0.99))
	line := fmt.Sprintf("%-10s subscribed %d/%d  delivered %s/s  p99 %.1f ms  behind %d  dup %d",
		phase, s.Subscribed, s.Clients, thousands(float64(s.Delivered-last.Delivered)/el), p99, s.Behind, s.Duplicated)
	if p != nil {
		line += fmt.Sprintf("  published %s/s (%d failed)", thousands(float64(pub-lastP)/el), pubErr)
	}
	if n := s.Disconnects + s.ReconnectFailures; n > 0 {
		line += fmt.Sprintf("  disconnects %d", n)
	}
	b.logf("%s", line)
}

// drain waits until every subscriber has every acknowledged event of its
// room, or deliveries stop progressing for --drain-timeout; it returns
// the final stats.
func (b *bench) drain(ctx context.Context) *fleetStats {
	b.setPhase("draining")
	exp := b.expected()
	s := b.stats(exp)
	progressAt, delivered := time.Now(), s.Delivered
	for s.Behind > 0 && ctx.Err() == nil {
		if s.Delivered != delivered {
			progressAt, delivered = time.Now(), s.Delivered
		} else if time.Since(progressAt) > b.cfg.DrainTimeout {
			break
		}
		time.Sleep(50 * time.Millisecond)
		s = b.stats(exp)
	}
	return s
}

// fill copies the final subscriber and publisher counters into the result.
func (b *bench) fill(s *fleetStats) {
	r := b.res
	r.Delivered = s.Delivered
	r.Missed = s.Behind
	if s.Behind > 0 {
		r.Extra["missed_clients"] = s.BehindClients
		if s.BehindByNode != nil {
			r.Extra["missed_by_node"] = s.BehindByNode
		}
		if b.cfg.Rooms == 1 {
			// One room, nothing else publishing: its offsets are
			// consecutive, so a jump is an event skipped mid-stream
			// (else the missed events were the last ones).
			r.Extra["missed_mid_stream"] = s.Skipped
			r.Extra["missed_mid_stream_clients"] = s.SkipClients
		}
	}
	r.Duplicated = s.Duplicated
	r.ConnectFailures = s.Failures
	if b.pub != nil {
		r.Published = b.pub.published()
		r.PublishErrors = b.pub.errors.Load()
		for _, e := range b.pub.errorSamples() {
			r.problem("publish: %s", e)
		}
		if lat := b.pub.lat.Snapshot(); lat.Count() > 0 {
			pl := latencyOf(lat)
			r.Extra["publish_p50_ms"], r.Extra["publish_p99_ms"] = pl.P50, pl.P99
		}
	}
	if s.Disconnects > 0 {
		r.problem("%d unexpected disconnects", s.Disconnects)
	}
	if s.ReconnectFailures > 0 {
		r.problem("%d clients could not reconnect", s.ReconnectFailures)
	}
	if s.Resets > 0 {
		r.problem("%d reset notices (history was trimmed)", s.Resets)
	}
	if s.Unrecovered > 0 {
		r.Extra["unrecovered"] = s.Unrecovered
	}
	for _, e := range s.Errors {
		r.problem("client: %s", e)
	}
}

// close stops the subscribers.
func (b *bench) close() {
	b.mu.Lock()
	g := b.grp
	b.grp = nil
	b.mu.Unlock()
	if g != nil {
		g.close()
	}
}
