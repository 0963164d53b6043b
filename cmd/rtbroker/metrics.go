package main

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/rtbroker/rtbroker/broker"
)

// gauge is one metric line source.
type gauge struct {
	name, help, kind string
	value            func() float64
}

// metricsHandler serves the gauges in the Prometheus text format.
func metricsHandler(gauges []gauge) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var sb strings.Builder
		for _, g := range gauges {
			fmt.Fprintf(&sb, "# HELP %s %s\n# TYPE %s %s\n%s %g\n", g.name, g.help, g.name, g.kind, g.name, g.value())
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write([]byte(sb.String()))
	}
}

func brokerGauges(b *broker.Broker) []gauge {
	stat := func(f func(broker.Stats) int64) func() float64 {
		return func() float64 { return float64(f(b.Stats())) }
	}
	return []gauge{
		{"rtbroker_log_head", "Offset of the last committed event.", "gauge", func() float64 { return float64(b.Head().Offset) }},
		{"rtbroker_events_published_total", "Events committed to the log.", "counter", stat(func(s broker.Stats) int64 { return s.Published })},
		{"rtbroker_publishes_replayed_total", "Publishes answered from an earlier commit with the same Idempotency-Key.", "counter", stat(func(s broker.Stats) int64 { return s.Replayed })},
		{"rtbroker_commits_total", "Log transactions (one fsync each).", "counter", stat(func(s broker.Stats) int64 { return s.Commits })},
		{"rtbroker_ephemeral_total", "Ephemeral events sent.", "counter", stat(func(s broker.Stats) int64 { return s.Ephemeral })},
		{"rtbroker_subscriptions", "Open subscriptions over all gateways.", "gauge", stat(func(s broker.Stats) int64 { return s.Subscriptions })},
	}
}
