package main

import (
	"context"
	"io"
)

// smokeResult is one transport's part of a smoke run.
type smokeResult struct {
	Transport     string  `json:"transport"`
	Published     uint64  `json:"published"`
	Delivered     uint64  `json:"delivered"`
	Missed        uint64  `json:"missed"`
	Duplicated    uint64  `json:"duplicated"`
	ResubscribedS float64 `json:"resubscribed_s"`
	Processes     int     `json:"processes,omitempty"` // worker processes
	OK            bool    `json:"ok"`
}

// smoke runs a short storm (subscribe, publish, drop every connection,
// publish, recover everything) on every transport the target serves, or
// on --transport when given.
func smoke(ctx context.Context, cfg *config, stderr io.Writer) *result {
	transports := []string{"ws", "polling", "sse", "longpoll"}
	if cfg.Target == "node" {
		transports = transports[:2]
	}
	if cfg.set["transport"] {
		transports = []string{cfg.Transport}
	}
	agg := &result{
		Scenario: "smoke", Target: cfg.Target, Transport: "all", Subs: cfg.Subs, Rooms: cfg.Rooms, Rate: cfg.Rate,
		Extra: map[string]any{},
	}
	if len(transports) == 1 {
		agg.Transport = transports[0]
	}
	var parts []smokeResult
	for _, tr := range transports {
		c := *cfg
		c.Transport, c.Scenario = tr, "storm"
		b := newBench(&c, stderr)
		b.logf("smoke: %s", tr)
		err := b.runScenario(ctx)
		b.close()
		r := b.res
		if err != nil {
			r.problem("%v", err)
		}
		r.judge()
		for _, p := range r.Problems {
			agg.problem("%s: %s", tr, p)
		}
		agg.Published += r.Published
		agg.PublishErrors += r.PublishErrors
		agg.Delivered += r.Delivered
		agg.Missed += r.Missed
		agg.Duplicated += r.Duplicated
		agg.ConnectFailures += r.ConnectFailures
		agg.DurationS += r.DurationS
		agg.LoadCPUPct = max(agg.LoadCPUPct, r.LoadCPUPct)
		// The worst transport's figures stand for the run.
		agg.LatencyMs = latencyMs{
			P50: max(agg.LatencyMs.P50, r.LatencyMs.P50), P99: max(agg.LatencyMs.P99, r.LatencyMs.P99),
			P999: max(agg.LatencyMs.P999, r.LatencyMs.P999), Max: max(agg.LatencyMs.Max, r.LatencyMs.Max),
		}
		agg.ConnectMs = connectMs{P50: max(agg.ConnectMs.P50, r.ConnectMs.P50), P99: max(agg.ConnectMs.P99, r.ConnectMs.P99)}
		rs, _ := r.Extra["resubscribed_s"].(float64)
		procs, _ := r.Extra["processes"].(int)
		if procs > 0 {
			agg.Extra["processes"] = procs
		}
		parts = append(parts, smokeResult{
			Transport: tr, Published: r.Published, Delivered: r.Delivered, Missed: r.Missed,
			Duplicated: r.Duplicated, ResubscribedS: rs, Processes: procs, OK: r.OK,
		})
	}
	agg.Extra["transports"] = parts
	if agg.Problems == nil {
		agg.Problems = []string{}
	}
	agg.OK = len(agg.Problems) == 0
	return agg
}
