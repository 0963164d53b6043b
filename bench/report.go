package main

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rtbroker/rtbroker/internal/numfmt"
)

// A run is one rtbench invocation's record, as kept in the raw JSON file.
type run struct {
	Scenario string   `json:"scenario"` // scenario id
	Step     int      `json:"step"`     // index into the scenario's steps
	Label    string   `json:"label,omitempty"`
	Target   string   `json:"target"`
	Rep      int      `json:"rep"`
	Attempt  int      `json:"attempt"`            // 2: the repeat of a load-bound attempt
	Status   string   `json:"status"`             // ok, problems, load-bound, failed, timeout
	LoadCPU  float64  `json:"load_cpu_pct"`       // the load generator's CPU, % of one core
	Problems []string `json:"problems,omitempty"` // rtbench's, or why there is no result
	Seconds  float64  `json:"seconds"`
	// OtherCPU is the CPU used by processes other than the benchmark's
	// (server, load tool, their children, the suite) over the step, % of
	// one core; nil when unknown (results written before it existed).
	OtherCPU *float64 `json:"other_cpu_pct,omitempty"`
	// LoadAvg is the 1-minute load average as the step started, in
	// results written before OtherCPU: it counts the benchmark itself.
	LoadAvg float64         `json:"loadavg,omitempty"`
	Args    []string        `json:"args"`
	Result  json.RawMessage `json:"result,omitempty"` // rtbench's JSON, as written
}

// Run statuses. A run with a result (ok, problems, load-bound) gives
// figures; failed and timeout runs do not.
const (
	statusOK        = "ok"
	statusProblems  = "problems"   // rtbench exited 1: missed, duplicated or failed connections
	statusLoadBound = "load-bound" // the load generator was above maxLoadCPU twice
	statusFailed    = "failed"
	statusTimeout   = "timeout"
)

// results is what a results .json file holds.
type results struct {
	Date    string      `json:"date"` // RFC 3339, when the suite ended
	Quick   bool        `json:"quick"`
	Reps    int         `json:"reps"`
	Machine machineInfo `json:"machine"`
	Runs    []run       `json:"runs"`
}

// markdown is the results page: what ran where, the table of scs, the
// legend and the runs that were not clean.
func (res results) markdown(scs []scenario) string {
	var md strings.Builder
	date := res.Date
	if t, err := time.Parse(time.RFC3339, res.Date); err == nil {
		date = t.Format("2006-01-02 15:04")
	}
	fmt.Fprintf(&md, "# rtbroker vs the Node Socket.IO peer, %s\n\n", date)
	fmt.Fprintf(&md, "%s. Server on core 0, load (cmd/rtbench) on core 1; %d repetition(s) (A B A B …), medians.", res.Machine.describe(), res.Reps)
	if res.Quick {
		md.WriteString(" **Quick run**: smaller sizes, one repetition.")
	}
	if n, worst := busyRuns(res.Runs); n > 0 {
		fmt.Fprintf(&md, " **The machine was busy with other work**: in %d run(s) processes other than the benchmark's used more than %d %% of a core (up to %.0f %%; see \"Other load\" below): their figures are lower than on a quiet machine.", n, maxOtherCPU, worst)
	}
	md.WriteString("\n\n" + table(scs, res.Runs) + "\n")
	md.WriteString("↑ higher is better, ↓ lower is better; ratio = rtbroker ÷ node; met? compares rtbroker's median with the target of issue 5 or 15. " +
		"`*`: a run behind the median reported problems (missed or duplicated events, failed connections) or had the load generator above 80 % CPU; " +
		"(n/m): only n of m runs gave the figure; fail: none did. The Node peer keeps events in memory only (no fsync), serves Socket.IO only, and loses its sessions on a restart.\n")
	if t := otherLoadTable(scs, res.Runs); t != "" {
		fmt.Fprintf(&md, "\nOther load: the CPU time of processes that are not the benchmark's (the machine's busy time in /proc/stat minus that of the server, the load tool, their children and the suite), %% of one core over each step; median (highest) of the runs; ⚠ above %d %%.\n\n%s", maxOtherCPU, t)
	}
	if ps := problems(res.Runs); len(ps) > 0 {
		md.WriteString("\nRuns that were not clean:\n\n")
		for _, p := range ps {
			md.WriteString("- " + p + "\n")
		}
	}
	return md.String()
}

// value reads the figure at path from the run's result: dotted keys, and
// indexes into arrays ("extra.steps.0.p99_ms").
func (r run) value(path string) (float64, bool) {
	if len(r.Result) == 0 {
		return 0, false
	}
	var v any
	if json.Unmarshal(r.Result, &v) != nil {
		return 0, false
	}
	for _, k := range strings.Split(path, ".") {
		switch c := v.(type) {
		case map[string]any:
			v = c[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(c) {
				return 0, false
			}
			v = c[i]
		default:
			return 0, false
		}
	}
	f, ok := v.(float64)
	return f, ok
}

// A cell is the median of one metric over one server's repetitions.
type cell struct {
	median float64
	n      int  // runs that gave the figure
	of     int  // runs made
	marked bool // a run behind it was load-bound or reported problems
}

func (c cell) ok() bool { return c.n > 0 }

// summarize takes the median of the metric over the runs of one scenario
// step on one server.
func summarize(runs []run, sc, tgt string, stepIdx int, m metric) cell {
	var c cell
	var vals []float64
	for _, r := range runs {
		if r.Scenario != sc || r.Target != tgt || r.Step != stepIdx || superseded(runs, r) {
			continue
		}
		c.of++
		v, ok := r.value(m.path)
		if !ok {
			continue
		}
		vals = append(vals, v)
		if r.Status != statusOK {
			c.marked = true
		}
	}
	c.n = len(vals)
	if c.n > 0 {
		c.median = median(vals)
	}
	return c
}

// superseded reports whether r is a load-bound first attempt that was run
// again.
func superseded(runs []run, r run) bool {
	return slices.ContainsFunc(runs, func(o run) bool {
		return o.Scenario == r.Scenario && o.Target == r.Target && o.Step == r.Step && o.Rep == r.Rep && o.Attempt > r.Attempt
	})
}

// median of vals (the mean of the middle two for an even count); vals is
// sorted in place.
func median(vals []float64) float64 {
	slices.Sort(vals)
	n := len(vals)
	if n%2 == 1 {
		return vals[n/2]
	}
	return (vals[n/2-1] + vals[n/2]) / 2
}

// A unit says how a figure is written.
type unit int

const (
	unitCount   unit = iota // 312,000
	unitMillis              // 12.3
	unitBytes               // 7.9 KB
	unitSeconds             // 0.42 s
	unitTenths              // 1.6 (a count with one decimal: a mean)
)

func (u unit) format(v float64) string {
	switch u {
	case unitMillis, unitTenths:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case unitBytes:
		return strconv.FormatFloat(v/1024, 'f', 1, 64) + " KB"
	case unitSeconds:
		return strconv.FormatFloat(v, 'f', 2, 64) + " s"
	}
	return numfmt.Group3(strconv.FormatInt(int64(math.Round(v)), 10))
}

func formatTarget(t *target, u unit) string {
	if t == nil {
		return "—"
	}
	if t.peer {
		if t.max {
			return "≤ node"
		}
		return "≥ node"
	}
	if t.max && t.bound == 0 {
		return "0"
	}
	if t.max {
		return "≤ " + u.format(t.bound)
	}
	return "≥ " + u.format(t.bound)
}

// formatCell writes a median, with a mark when it rests on fewer runs than
// were made or on a marked run.
func formatCell(c cell, u unit) string {
	if c.of == 0 {
		return "—"
	}
	if !c.ok() {
		return "fail"
	}
	s := u.format(c.median)
	if c.marked {
		s += " *"
	}
	if c.n < c.of {
		s += fmt.Sprintf(" (%d/%d)", c.n, c.of)
	}
	return s
}

// ratio is rtbroker's median divided by the Node peer's.
func ratio(a, b cell) string {
	if !a.ok() || !b.ok() {
		return "—"
	}
	if b.median == 0 {
		if a.median == 0 {
			return "1"
		}
		return "∞"
	}
	r := a.median / b.median
	if r >= 10 || r < 0.1 && r > 0 {
		return strconv.FormatFloat(r, 'g', 2, 64)
	}
	return strconv.FormatFloat(r, 'f', 2, 64)
}

// verdict says whether c, rtbroker's cell, meets t; peer is the Node
// peer's cell of the same row (a peer target's bound).
func verdict(t *target, c, peer cell) string {
	if t != nil && t.peer {
		if !peer.ok() {
			return "—"
		}
		t = &target{max: t.max, bound: peer.median}
	}
	switch {
	case t == nil:
		return "—"
	case !c.ok():
		return "**no**"
	case t.met(c.median):
		return "yes"
	}
	return "**no**"
}

// table writes the markdown results table of scs from runs.
func table(scs []scenario, runs []run) string {
	var b strings.Builder
	b.WriteString("| scenario | metric | rtbroker | node | ratio | target | met? |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | --- | --- |\n")
	for _, sc := range scs {
		for i, st := range sc.steps {
			title := sc.title
			if st.label != "" {
				title += ", " + st.label
			}
			for _, m := range st.metrics {
				a := summarize(runs, sc.id, "rtbroker", i, m)
				var n cell
				if !m.server {
					n = summarize(runs, sc.id, "node", i, m)
				}
				if a.of == 0 && n.of == 0 {
					continue
				}
				arrow := "↓"
				if m.higher {
					arrow = "↑"
				}
				fmt.Fprintf(&b, "| %s | %s %s | %s | %s | %s | %s | %s |\n", title, m.name, arrow,
					formatCell(a, m.unit), formatCell(n, m.unit), ratio(a, n), formatTarget(m.target, m.unit), verdict(m.target, a, n))
				if m.ceiling == nil {
					continue
				}
				cm := m
				if m.ceiling.path != "" {
					cm.path = m.ceiling.path
				}
				if c := summarize(runs, sc.id, m.ceiling.server(), i, cm); c.of > 0 {
					ceilingRow(&b, title, m, arrow, a, c)
				}
			}
		}
	}
	return b.String()
}

// ceilingRow writes the row of the ceiling (ceiling.go) under rtbroker's
// row of the same metric: its median in the rtbroker column, marked, and
// rtbroker ÷ ceiling as the ratio; with a share, rtbroker must reach that
// share of it (issue 15: ingest's events/s ≥ 0.7 × the plain handler's).
func ceilingRow(b *strings.Builder, title string, m metric, arrow string, a, c cell) {
	tgt, met := "—", "—"
	if sh := m.ceiling.share; sh > 0 && m.higher {
		tgt = fmt.Sprintf("rtbroker ≥ %.2f × ceiling", sh)
		if c.ok() {
			met = verdict(atLeast(sh*c.median), a, cell{})
		}
	}
	fmt.Fprintf(b, "| %s | %s %s, ceiling: %s, same run; ratio = rtbroker ÷ ceiling | %s (ceiling) | — | %s | %s | %s |\n",
		title, m.name, arrow, m.ceiling.what, formatCell(c, m.unit), ratio(a, c), tgt, met)
}

// problems lists, one line each, the runs that were not clean.
func problems(runs []run) []string {
	var out []string
	for _, r := range runs {
		if r.Status == statusOK || superseded(runs, r) {
			continue
		}
		what := r.Scenario
		if r.Label != "" {
			what += " (" + r.Label + ")"
		}
		line := fmt.Sprintf("%s, %s, repetition %d: %s", what, r.Target, r.Rep, r.Status)
		if r.Status == statusLoadBound {
			line += fmt.Sprintf(" (load generator at %.0f %%)", r.LoadCPU)
		}
		if len(r.Problems) > 0 {
			ps := slices.Clone(r.Problems)
			if len(ps) > 3 {
				ps = append(ps[:3], fmt.Sprintf("and %d more", len(r.Problems)-3))
			}
			for i, p := range ps {
				if len(p) > 200 {
					ps[i] = p[:200] + "…"
				}
			}
			line += ": " + strings.Join(ps, "; ")
		}
		out = append(out, line)
	}
	return out
}

// busyRuns counts the runs during which other load exceeded maxOtherCPU,
// and the highest other load of them.
func busyRuns(runs []run) (n int, worst float64) {
	for _, r := range runs {
		if r.OtherCPU != nil && *r.OtherCPU > maxOtherCPU && !superseded(runs, r) {
			n++
			worst = max(worst, *r.OtherCPU)
		}
	}
	return n, worst
}

// otherLoadTable is one row per scenario of scs: the other load during its
// runs on each server; "" when no run measured it.
func otherLoadTable(scs []scenario, runs []run) string {
	var b strings.Builder
	for _, sc := range scs {
		cells := make([]string, len(servers))
		seen := false
		for i, tgt := range servers {
			var vals []float64
			for _, r := range runs {
				if r.Scenario == sc.id && r.Target == tgt && r.OtherCPU != nil && !superseded(runs, r) {
					vals = append(vals, *r.OtherCPU)
				}
			}
			cells[i] = formatOtherLoad(vals)
			seen = seen || len(vals) > 0
		}
		if seen {
			fmt.Fprintf(&b, "| %s | %s |\n", sc.title, strings.Join(cells, " | "))
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "| scenario | " + strings.Join(servers, " | ") + " |\n| --- |" + strings.Repeat(" ---: |", len(servers)) + "\n" + b.String()
}

// formatOtherLoad writes "3 % (7 %)": the median and the highest of vals,
// with ⚠ when the highest is above maxOtherCPU.
func formatOtherLoad(vals []float64) string {
	if len(vals) == 0 {
		return "—"
	}
	hi := slices.Max(vals)
	s := fmt.Sprintf("%.0f %% (%.0f %%)", median(slices.Clone(vals)), hi)
	if hi > maxOtherCPU {
		s += " ⚠"
	}
	return s
}
