package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rtbroker/rtbroker/internal/numfmt"
)

// result is the outcome of a run: the JSON object of the contract
// (notes/rtbench-contract.md), also printed as a table.
type result struct {
	Scenario        string         `json:"scenario"`
	Target          string         `json:"target"`
	Transport       string         `json:"transport"`
	Subs            int            `json:"subs"`
	Rooms           int            `json:"rooms"`
	Rate            float64        `json:"rate"`
	DurationS       float64        `json:"duration_s"`
	Published       uint64         `json:"published"`
	PublishErrors   uint64         `json:"publish_errors"`
	Delivered       uint64         `json:"delivered"`
	DeliveredPerS   float64        `json:"delivered_per_s"`
	Missed          uint64         `json:"missed"`
	Duplicated      uint64         `json:"duplicated"`
	LatencyMs       latencyMs      `json:"latency_ms"`
	ConnectMs       connectMs      `json:"connect_ms"`
	ConnectFailures int64          `json:"connect_failures"`
	Server          serverFigures  `json:"server"`
	LoadCPUPct      float64        `json:"load_cpu_pct"`
	Extra           map[string]any `json:"extra"`
	OK              bool           `json:"ok"`
	Problems        []string       `json:"problems"`
}

type latencyMs struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

type connectMs struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

type serverFigures struct {
	RSSBytes        uint64  `json:"rss_bytes"`
	RSSPerConnBytes float64 `json:"rss_per_conn_bytes"`
	CPUPct          float64 `json:"cpu_pct"`
	// Commit is what the log's commits took over the measured window
	// (rtbroker's /metrics; nil for the Node peer or without them).
	Commit *commitFigures `json:"commit,omitempty"`
}

// ms converts nanoseconds to milliseconds, rounded to 0.01 ms.
func ms(ns uint64) float64 { return float64(ns/10_000) / 100 }

func latencyOf(s *Snapshot) latencyMs {
	if s == nil {
		return latencyMs{}
	}
	return latencyMs{P50: ms(s.Quantile(0.50)), P99: ms(s.Quantile(0.99)), P999: ms(s.Quantile(0.999)), Max: ms(s.Max)}
}

func connectOf(s *Snapshot) connectMs {
	if s == nil {
		return connectMs{}
	}
	return connectMs{P50: ms(s.Quantile(0.50)), P99: ms(s.Quantile(0.99))}
}

// problem records a reason the run is not ok.
func (r *result) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// judge sets OK from the counters and the problems found so far.
func (r *result) judge() {
	if r.Missed > 0 {
		r.problem("%d events missed", r.Missed)
	}
	if r.Duplicated > 0 {
		r.problem("%d events duplicated", r.Duplicated)
	}
	if r.ConnectFailures > 0 {
		r.problem("%d connections failed", r.ConnectFailures)
	}
	if r.PublishErrors > 0 {
		r.problem("%d publishes failed", r.PublishErrors)
	}
	if r.Problems == nil {
		r.Problems = []string{}
	}
	r.OK = len(r.Problems) == 0
}

// writeJSON writes the result to path.
func (r *result) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// printTable writes the result as a two-column table.
func (r *result) printTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	row("scenario", "%s  (target %s, transport %s)", r.Scenario, r.Target, r.Transport)
	row("subscribers", "%d in %d room(s); connect p50 %.2f ms, p99 %.2f ms; %d failed",
		r.Subs, r.Rooms, r.ConnectMs.P50, r.ConnectMs.P99, r.ConnectFailures)
	row("published", "%d events (%d failed); rate %g/s; measured %.1f s", r.Published, r.PublishErrors, r.Rate, r.DurationS)
	row("delivered", "%d (%s/s)", r.Delivered, thousands(r.DeliveredPerS))
	row("latency", "p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms", r.LatencyMs.P50, r.LatencyMs.P99, r.LatencyMs.P999, r.LatencyMs.Max)
	row("missed / duplicated", "%d / %d", r.Missed, r.Duplicated)
	if r.Server.RSSBytes > 0 || r.Server.CPUPct > 0 {
		row("server", "RSS %.1f MiB (%.0f B/conn), CPU %.0f%%", float64(r.Server.RSSBytes)/(1<<20), r.Server.RSSPerConnBytes, r.Server.CPUPct)
	}
	row("load generator CPU", "%.0f%%", r.LoadCPUPct)
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch v := r.Extra[k].(type) {
		case float64:
			row(k, "%s", thousands(v))
		case []stepResult, []smokeResult:
			b, _ := json.Marshal(v)
			row(k, "%s", b)
		default:
			row(k, "%v", v)
		}
	}
	if r.OK {
		row("result", "ok")
	} else {
		row("result", "FAILED: %s", strings.Join(r.Problems, "; "))
	}
	tw.Flush()
}

// thousands formats v with thousands separators (and 2 decimals below 100).
func thousands(v float64) string {
	if v < 100 && v > -100 {
		return fmt.Sprintf("%.2f", v)
	}
	return numfmt.Group3(fmt.Sprintf("%.0f", v))
}

// seconds rounds a duration to milliseconds, in seconds.
func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }
