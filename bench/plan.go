package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rtbroker/rtbroker/internal/numfmt"
)

// A scenario is one row group of the results table: a run of it starts a
// fresh server (fresh data directory, new port) and runs its steps in order
// against that server.
type scenario struct {
	id      string   // unique, e.g. "fanout-5k"
	group   string   // what --only selects: fanout, rooms, latency, idle, replay, storm, ingest, conns
	title   string   // the scenario column of the table
	targets []string // servers it runs against
	// rtbrokerArgs are extra flags of rtbroker's serve for this scenario
	// (the Node peer has none).
	rtbrokerArgs []string
	steps        []step
}

// A step is one rtbench run; its JSON result gives the metrics of one or
// more table rows.
type step struct {
	label string   // appended to the scenario title ("1 client", "after restart")
	args  []string // rtbench scenario and flags (without --url, --target, --json)
	// ceilingArgs replace args against the ceiling, when they differ.
	ceilingArgs []string
	// only limits the step to one server ("" both): the Node peer keeps
	// nothing across a restart, so replay after a restart is rtbroker's.
	only string
	// restartBefore restarts the server (SIGTERM, same data directory and
	// port) before the step.
	restartBefore bool
	// restartCmd is "term" or "kill": rtbench gets a --restart-cmd that
	// restarts the server with that signal at the storm's drop.
	restartCmd string
	estimate   time.Duration // what the step usually takes, server start included
	timeout    time.Duration // after this the run is killed and marked failed
	metrics    []metric
}

// A metric is one row: a figure read from rtbench's JSON result.
type metric struct {
	name   string // e.g. "deliveries/s"
	path   string // dotted path into the JSON result
	unit   unit
	higher bool    // higher is better
	target *target // nil: none
	// server: a figure of rtbroker's own /metrics, which the Node peer and
	// the ceiling do not have: their columns stay empty.
	server bool
	// ceiling: the row also gets a row of the ceiling (ceiling.go) measured
	// in the same run, when its scenario runs against it (nil: none).
	ceiling *ceilingRef
}

// A ceilingRef says what the ceiling of a metric's row is.
type ceilingRef struct {
	target string  // the ceiling's server ("": ceilingTarget)
	what   string  // what the ceiling server does, in the row's name
	path   string  // its figure in the ceiling's result ("": the metric's own)
	share  float64 // rtbroker must reach share × the ceiling (0: no target)
}

// The ceilings of issue 15's rows.
var (
	httpCeiling   = "plain net/http handler (read body, json.Valid, 201)"
	ingestCeiling = &ceilingRef{what: httpCeiling, share: 0.7}
	stormCeiling  = &ceilingRef{path: "extra.connect_s",
		what: "s to connect the same clients to a bare gorilla/websocket server that speaks only Socket.IO's framing (no store, sessions or recovery)"}
	fanoutCeiling = &ceilingRef{what: "bare gorilla/websocket broadcast loop (each event written to every socket in turn, nothing stored)"}
	noSyncCeiling = &ceilingRef{target: noSyncTarget,
		what: "the same rtbroker built without the journal's fdatasync (-tags " + noSyncTag + "; nothing durable: what the commit's sync costs, which the Node peer does not pay)"}
)

// noSyncTarget is rtbroker built with noSyncTag (storage/bolt/sync_off.go):
// the journal's fdatasync left out and nothing else changed, run beside
// rtbroker in the rooms scenario as the ceiling of its latency rows.
const (
	noSyncTarget = "rtbroker-nofsync"
	noSyncTag    = "rtbroker_nofsync"
)

// server returns the ceiling's server.
func (c *ceilingRef) server() string {
	if c.target != "" {
		return c.target
	}
	return ceilingTarget
}

// cpuMetric is the server's CPU over a step's measured window, % of the
// one core it is pinned to: how near saturation its latency was measured.
func cpuMetric() metric {
	return metric{name: "server CPU, % of its core", path: "server.cpu_pct", unit: unitCount}
}

// stormCeilings are the rows a storm's time is measured against in the
// same run: how long the same clients took to connect and subscribe at
// the start, with nothing to recover and no fan-out running (the server's
// connect rate on one core), and, for a restart, how long the restart
// itself took (signal to the new server answering /healthz), which is
// inside the time to recovered.
func stormCeilings(restart bool) []metric {
	ms := []metric{{name: "s to connect and subscribe the same clients at the start (nothing to recover), same run", path: "extra.connect_s", unit: unitSeconds}}
	if restart {
		ms = append(ms, metric{name: "s of the restart itself (signal → the new server healthy), part of s to recovered", path: "extra.restart_s", unit: unitSeconds})
	}
	return ms
}

// commitMetrics are the rows of the log's durable commits over a step's
// measured window (rtbench's server.commit, from rtbroker_commit_seconds
// and rtbroker_commit_batch_events): the floor that fsync puts under
// rtbroker's latency and single-event publish figures, measured in the
// same run.
func commitMetrics() []metric {
	return []metric{
		{name: "server: log commits/s", path: "server.commit.per_s", unit: unitCount, higher: true, server: true},
		{name: "server: events per commit", path: "server.commit.events_per_commit", unit: unitTenths, higher: true, server: true},
		{name: "server: commit p50 ms (journal write + fdatasync)", path: "server.commit.p50_ms", unit: unitMillis, server: true},
		{name: "server: commit p99 ms (journal write + fdatasync)", path: "server.commit.p99_ms", unit: unitMillis, server: true},
	}
}

// A target is a bound the rtbroker median must meet (issue 5's table, issue 15's targets).
type target struct {
	max   bool // the value must be ≤ bound (else ≥)
	bound float64
	// peer: the bound is the Node peer's median in the same run, not
	// bound (issue 15: latency no worse than Node's).
	peer bool
}

func (t target) met(v float64) bool {
	if t.max {
		return v <= t.bound
	}
	return v >= t.bound
}

func atLeast(v float64) *target { return &target{bound: v} }
func atMost(v float64) *target  { return &target{max: true, bound: v} }

// atMostPeer: rtbroker's median at most the Node peer's in the same run.
func atMostPeer() *target { return &target{max: true, peer: true} }

// sizes are the knobs that differ between the full suite and --quick.
type sizes struct {
	fanoutSubs       []int // 15000 and 19900 have the target and a row of passing steps
	stepDuration     time.Duration
	fanoutCap        time.Duration // --duration: the stepping stops there
	roomsSubs, rooms int
	roomsRate        int
	latencySubs      []int
	measure          time.Duration // --duration of the fixed-rate scenarios
	idleSubs         int
	idleAt           []time.Duration // WebSocket RSS read this long after the last connect
	replayEvents     int
	replaySubs       []int
	stormSubs        int
	stormRestarts    []string
	ingestConns      []int
	ingestBatch      int // also run the largest --pub-conns with this --batch (0: not)
	conns            int
}

var fullSizes = sizes{
	fanoutSubs: []int{1000, 5000, 15000, 19900}, stepDuration: 4 * time.Second, fanoutCap: 60 * time.Second,
	roomsSubs: 10000, rooms: 1000, roomsRate: 2000,
	latencySubs: []int{1000, 5000}, measure: 10 * time.Second,
	idleSubs: 10000, idleAt: []time.Duration{10 * time.Second, 60 * time.Second},
	replayEvents: 100000, replaySubs: []int{1, 100},
	stormSubs: 5000, stormRestarts: []string{"term", "kill"},
	ingestConns: []int{64, 256}, ingestBatch: 16,
	conns: 19900,
}

var quickSizes = sizes{
	fanoutSubs: []int{1000}, stepDuration: 3 * time.Second, fanoutCap: 30 * time.Second,
	roomsSubs: 2000, rooms: 200, roomsRate: 1000,
	latencySubs: []int{1000}, measure: 6 * time.Second,
	idleSubs: 2000, idleAt: []time.Duration{10 * time.Second, 60 * time.Second},
	replayEvents: 20000, replaySubs: []int{1, 10},
	stormSubs: 1000, stormRestarts: []string{"term"},
	ingestConns: []int{64},
	conns:       2000,
}

// servers lists the targets in the order each repetition runs them (A B).
var servers = []string{"rtbroker", "node"}

// pollingMaxSessions bounds the idle polling sessions: each holds two
// connections, and a process may open 20,000 files.
const pollingMaxSessions = 9000

// plan returns the scenarios of issue 5 at the given sizes:
// (a) fan-out, (b) rooms, (c) latency, (d) idle memory per transport,
// (e) replay before and after a restart, (f) reconnect storm, (g) ingest,
// and the open-files cap (conns).
func plan(sz sizes) []scenario {
	both := []string{"rtbroker", "node"}
	withCeiling := []string{"rtbroker", "node", ceilingTarget} // a scenario with ceiling rows
	// est is a step's usual time: server start and teardown, connecting
	// conns clients (about 500 a second), then run.
	est := func(conns int, run time.Duration) time.Duration {
		return 4*time.Second + time.Duration(conns)*time.Second/500 + run
	}
	measure := sz.measure.String()
	var out []scenario
	// Fan-out starts low (2,000 deliveries/s, at least one event a second)
	// so that a first step passes even on a busy machine; rtbench grows the
	// rate ×1.5 a step.
	for _, n := range sz.fanoutSubs {
		args := []string{"fanout", "--subs", itoa(n), "--transport", "ws", "--rate", itoa(max(1, 2000/n)), "--step-duration", sz.stepDuration.String(), "--duration", sz.fanoutCap.String()}
		metrics := []metric{
			{name: "deliveries/s", path: "extra.max_deliveries_per_s", unit: unitCount, higher: true,
				target: map[int]*target{5000: atLeast(300000), 15000: atLeast(150000)}[n]},
			{name: fmt.Sprintf("p99 ms at the first step (%d/s)", max(1, 2000/n)), path: "extra.steps.0.p99_ms", unit: unitMillis},
		}
		targets := both
		if n >= 15000 {
			// Issue 15: a step must pass (p99 ≤ 250 ms, ≥ 99 % delivered)
			// at 15k; 19.9k is reported beside it.
			metrics = append(metrics,
				metric{name: "steps passed", path: "extra.passed_steps", unit: unitCount, higher: true, target: when(n == 15000, atLeast(1))},
				metric{name: "p99 ms at the best step", path: "latency_ms.p99", unit: unitMillis})
		}
		if n == 15000 {
			// What writing one event to 15k sockets costs here, in the
			// same run: a bare broadcast loop's first step and its passes.
			targets = withCeiling
			for i := range metrics {
				metrics[i].ceiling = fanoutCeiling
			}
		}
		if n > 15000 {
			// 19,900 subscribers and the server's 20,000 open files leave
			// room for few publisher connections; the clients dial from
			// 127.0.0.2 on, 2,000 an address (rtbench's --src, --per-src).
			args = append(args, "--pub-conns", "16")
		}
		out = append(out, scenario{
			id: "fanout-" + shortKilo(n), group: "fanout", targets: targets,
			title: fmt.Sprintf("(a) fan-out, 1 room × %s WS", kilo(n)),
			steps: []step{{
				args:     args,
				estimate: est(n, sz.fanoutCap*2/3), timeout: 6 * time.Minute,
				metrics: metrics,
			}},
		})
	}
	roomsCPU := cpuMetric()
	roomsCPU.ceiling = noSyncCeiling
	out = append(out, scenario{
		id: "rooms", group: "rooms", targets: []string{"rtbroker", "node", noSyncTarget},
		title: fmt.Sprintf("(b) %s subs over %s rooms, %s events/s", kilo(sz.roomsSubs), kilo(sz.rooms), kilo(sz.roomsRate)),
		steps: []step{{
			args:     []string{"rooms", "--subs", itoa(sz.roomsSubs), "--rooms", itoa(sz.rooms), "--rate", itoa(sz.roomsRate), "--duration", measure},
			estimate: est(sz.roomsSubs, sz.measure+2*time.Second), timeout: 4 * time.Minute,
			metrics: append([]metric{
				{name: "deliveries/s", path: "delivered_per_s", unit: unitCount, higher: true},
				{name: "p50 ms", path: "latency_ms.p50", unit: unitMillis, target: atMostPeer(), ceiling: noSyncCeiling},
				{name: "p99 ms", path: "latency_ms.p99", unit: unitMillis, target: atMostPeer(), ceiling: noSyncCeiling},
				roomsCPU,
			}, commitMetrics()...),
		}},
	})
	for _, n := range sz.latencySubs {
		five := n == 5000
		// Issue 15: at 1k subscribers, p50 and p99 no worse than Node's;
		// at 5k, issue 5's bounds.
		p50, p99 := atMostPeer(), atMostPeer()
		if five {
			p50, p99 = atMost(15), atMost(40)
		} else if n != 1000 {
			p50, p99 = nil, nil
		}
		out = append(out, scenario{
			id: "latency-" + kilo(n), group: "latency", targets: both,
			title: fmt.Sprintf("(c) latency, %s subs × 10 msg/s", kilo(n)),
			steps: []step{{
				args:     []string{"latency", "--subs", itoa(n), "--rate", "10", "--duration", measure},
				estimate: est(n, sz.measure+2*time.Second), timeout: 4 * time.Minute,
				metrics: append([]metric{
					{name: "p50 ms", path: "latency_ms.p50", unit: unitMillis, target: p50},
					{name: "p99 ms", path: "latency_ms.p99", unit: unitMillis, target: p99},
					{name: "p99.9 ms", path: "latency_ms.p999", unit: unitMillis},
					cpuMetric(),
				}, commitMetrics()...),
			}},
		})
	}
	for _, tr := range []string{"ws", "polling", "sse", "longpoll"} {
		targets := both
		if tr == "sse" || tr == "longpoll" {
			targets = []string{"rtbroker"} // the Node peer serves Socket.IO only
		}
		subs, title := sz.idleSubs, fmt.Sprintf("(d) idle memory, %s %s", kilo(sz.idleSubs), tr)
		if tr == "polling" && subs > pollingMaxSessions {
			// A polling session holds two connections (the pending GET and
			// the POSTs' keep-alive one): 10k would pass the server's
			// 20,000 open files.
			subs = pollingMaxSessions
			title = fmt.Sprintf("(d) idle memory, %s polling (2 connections each)", kilo(subs))
		}
		idle := scenario{
			id: "idle-" + tr, group: "idle", targets: targets,
			title: title,
			steps: []step{{
				args:     []string{"idle", "--subs", itoa(subs), "--transport", tr},
				estimate: est(subs, 5*time.Second), timeout: 4 * time.Minute,
				metrics: []metric{
					{name: "RSS/conn", path: "server.rss_per_conn_bytes", unit: unitBytes,
						target: map[string]*target{"ws": atMost(8 * 1024), "sse": atMost(6 * 1024),
							"polling": atMost(8 * 1024), "longpoll": atMost(6 * 1024)}[tr]}, // issue 5 (ws, sse), issue 15
				},
			}},
		}
		if tr == "ws" && len(sz.idleAt) > 0 {
			timedIdle(&idle, sz.idleAt)
			out = append(out, idle)
			// The same without the release of freed memory after a burst
			// of connections (cmd/rtbroker/memtrim.go).
			off := scenario{id: "idle-ws-norelease", group: "idle", targets: []string{"rtbroker"},
				title:        title + ", `--memory-release=false`",
				rtbrokerArgs: []string{"--memory-release=false"},
				steps:        []step{idle.steps[0]}}
			off.steps[0].metrics = off.steps[0].metrics[1:] // the settled figure is idle-ws's row
			out = append(out, off)
			continue
		}
		out = append(out, idle)
	}
	// The Node peer keeps the last --history (100k) events of a room in
	// memory and replays them on a join with `after`; it loses them on a
	// restart, so replay after a restart is rtbroker's only.
	replay := scenario{id: "replay", group: "replay", targets: both,
		title: fmt.Sprintf("(e) replay %s events", kilo(sz.replayEvents))}
	for _, restarted := range []bool{false, true} {
		for i, n := range sz.replaySubs {
			s := step{
				label:         fmt.Sprintf("%d client%s", n, plural(n)),
				args:          []string{"replay", "--events", itoa(sz.replayEvents), "--subs", itoa(n)},
				restartBefore: restarted && i == 0,
				// The Node peer replays ~60-75k events/s in all: 100 clients
				// × 100k events take it over two minutes.
				estimate: est(n, time.Duration(sz.replayEvents)*time.Second/20000), timeout: 8 * time.Minute,
				metrics: []metric{
					{name: "events/s", path: "extra.replay_events_per_s", unit: unitCount, higher: true, target: atLeast(500000)},
				},
			}
			if restarted {
				s.label += ", after restart"
				s.only = "rtbroker"
			}
			replay.steps = append(replay.steps, s)
		}
	}
	out = append(out, replay)
	storms := []struct{ id, label, restart string }{{"storm-drop", "clients dropped", ""}}
	for _, sig := range sz.stormRestarts {
		storms = append(storms, struct{ id, label, restart string }{"storm-" + sig, "server restart (SIG" + strings.ToUpper(sig) + ")", sig})
	}
	for _, st := range storms {
		// A dropped client's reconnection is a connection like its first:
		// the bare server's time to connect the same clients is the storm's
		// ceiling (a restart adds the restart's own row).
		targets := both
		var ceiling *ceilingRef
		var ceilingArgs []string
		if st.restart == "" {
			targets, ceiling = withCeiling, stormCeiling
			ceilingArgs = []string{"conns", "--subs", itoa(sz.stormSubs), "--duration", "1s"}
		}
		out = append(out, scenario{
			id: st.id, group: "storm", targets: targets,
			title: fmt.Sprintf("(f) storm, %s WS, %s", kilo(sz.stormSubs), st.label),
			steps: []step{{
				args:        []string{"storm", "--subs", itoa(sz.stormSubs), "--transport", "ws", "--rate", "10"},
				ceilingArgs: ceilingArgs,
				restartCmd:  st.restart,
				estimate:    est(sz.stormSubs, 10*time.Second), timeout: 4 * time.Minute,
				metrics: append([]metric{
					{name: "s to recovered", path: "extra.recovered_s", unit: unitSeconds, target: atMost(0.8), ceiling: ceiling},
					{name: "s to resubscribed", path: "extra.resubscribed_s", unit: unitSeconds},
					{name: "missed", path: "missed", unit: unitCount, target: atMost(0)},
				}, stormCeilings(st.restart != "")...),
			}},
		})
	}
	type ingest struct{ conns, batch int }
	var ingests []ingest
	for _, c := range sz.ingestConns {
		ingests = append(ingests, ingest{c, 1})
	}
	if sz.ingestBatch > 1 {
		ingests = append(ingests, ingest{sz.ingestConns[len(sz.ingestConns)-1], sz.ingestBatch})
	}
	for _, in := range ingests {
		id, title := "ingest-"+itoa(in.conns), fmt.Sprintf("(g) ingest, 1 KB over HTTP, %d conns", in.conns)
		if in.batch > 1 {
			id += "-batch" + itoa(in.batch)
			title += fmt.Sprintf(", %d events per request", in.batch)
		}
		targets := both
		ingestTarget := atLeast(40000) // issue 5, batches
		if in.batch == 1 {             // the plain net/http ceiling (ceiling.go) answers single events
			ingestTarget = atLeast(24000) // issue 15, and ≥ 0.7 × the ceiling (its own row)
			targets = withCeiling
		}
		out = append(out, scenario{
			id: id, group: "ingest", targets: targets, title: title,
			steps: []step{{
				args:     []string{"ingest", "--pub-conns", itoa(in.conns), "--batch", itoa(in.batch), "--size", "1024", "--duration", measure},
				estimate: est(in.conns, sz.measure), timeout: 3 * time.Minute,
				metrics: append([]metric{
					{name: "events/s", path: "extra.ingest_events_per_s", unit: unitCount, higher: true, target: ingestTarget, ceiling: ingestCeiling},
					{name: "publish p99 ms", path: "latency_ms.p99", unit: unitMillis, ceiling: &ceilingRef{what: httpCeiling}},
				}, commitMetrics()...),
			}},
		})
	}
	out = append(out, scenario{
		id: "conns", group: "conns", targets: both,
		title: fmt.Sprintf("%s WS connections held", kilo(sz.conns)),
		steps: []step{{
			args:     []string{"conns", "--subs", itoa(sz.conns), "--duration", "5s"},
			estimate: est(sz.conns, 5*time.Second), timeout: 4 * time.Minute,
			metrics: []metric{
				{name: "connect failures", path: "connect_failures", unit: unitCount, target: atMost(0)},
			},
		}},
	})
	return out
}

// timedIdle adds to sc's idle step the RSS per connection read at each of
// at after the last connect (rtbench --rss-at), a row each, with issue 15's
// target of 6 KB.
func timedIdle(sc *scenario, at []time.Duration) {
	st := &sc.steps[0]
	var parts []string
	for _, d := range at {
		parts = append(parts, d.String())
		secs := strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
		st.metrics = append(st.metrics, metric{name: "RSS/conn " + secs + " s after the last connect",
			path: "extra.rss_per_conn_" + secs + "s_bytes", unit: unitBytes, target: atMost(6 * 1024)})
	}
	st.args = append(slices.Clone(st.args), "--rss-at", strings.Join(parts, ","))
	st.estimate += at[len(at)-1]
	st.timeout += at[len(at)-1]
}

// groups lists the values --only accepts.
func groups(scs []scenario) []string {
	var g []string
	for _, sc := range scs {
		if !slices.Contains(g, sc.group) {
			g = append(g, sc.group)
		}
	}
	return g
}

// selectScenarios keeps the scenarios whose group or id is in only (all
// when only is empty) and the servers of target ("both", "rtbroker",
// "node"); it fails on a name it does not know.
func selectScenarios(scs []scenario, only []string, tgt string) ([]scenario, error) {
	if tgt != "both" && !slices.Contains(servers, tgt) {
		return nil, fmt.Errorf("--target %q: want rtbroker, node or both", tgt)
	}
	for _, o := range only {
		if !slices.ContainsFunc(scs, func(sc scenario) bool { return sc.group == o || sc.id == o }) {
			return nil, fmt.Errorf("--only %q: want one of %s (or a scenario id such as fanout-5k)", o, strings.Join(groups(scs), ", "))
		}
	}
	var out []scenario
	for _, sc := range scs {
		if len(only) > 0 && !slices.Contains(only, sc.group) && !slices.Contains(only, sc.id) {
			continue
		}
		if tgt != "both" {
			if !slices.Contains(sc.targets, tgt) {
				continue
			}
			sc.targets = []string{tgt}
		}
		out = append(out, sc)
	}
	return out, nil
}

// estimate is how long running scs reps times should take.
func estimate(scs []scenario, reps int) time.Duration {
	var d time.Duration
	for _, sc := range scs {
		for _, srv := range sc.targets {
			for _, st := range sc.steps {
				if st.only == "" || st.only == srv {
					d += st.estimate
				}
			}
		}
	}
	return d * time.Duration(reps)
}

func when(cond bool, t *target) *target {
	if cond {
		return t
	}
	return nil
}

func itoa(n int) string { return fmt.Sprint(n) }

// kilo writes 15000 as "15k" and 19900 as "19,900".
func kilo(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return numfmt.Group3(fmt.Sprint(n))
}

// shortKilo writes 15000 as "15k" and 19900 as "19.9k", for scenario ids.
func shortKilo(n int) string {
	if n >= 1000 && n%100 == 0 {
		return strconv.FormatFloat(float64(n)/1000, 'f', -1, 64) + "k"
	}
	return itoa(n)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
