package main

import (
	"context"
	"math"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestCommitFigures: the commit figures of a window are read from two
// scrapes of a real /metrics, the earlier one subtracted: mean exact,
// quantiles interpolated within the bucket as histogram_quantile does;
// a server without the histograms gives none.
func TestCommitFigures(t *testing.T) {
	reg := prometheus.NewRegistry()
	sec := prometheus.NewHistogram(prometheus.HistogramOpts{Name: commitSecondsMetric, Buckets: []float64{0.001, 0.002, 0.004}})
	ev := prometheus.NewHistogram(prometheus.HistogramOpts{Name: commitEventsMetric, Buckets: prometheus.ExponentialBuckets(1, 2, 6)})
	reg.MustRegister(sec, ev)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	ctx := context.Background()

	for range 50 { // before the window: must not count
		sec.Observe(0.01)
		ev.Observe(100)
	}
	start := scrapeCommits(ctx, []string{srv.URL, srv.URL}) // one node named twice counts once
	if !start.ok {
		t.Fatal("no commit histograms read")
	}
	for i := range 100 { // 60 in (1,2] ms, 40 in (2,4] ms
		v := 0.0015
		if i >= 60 {
			v = 0.003
		}
		sec.Observe(v)
		ev.Observe(4)
	}
	f := scrapeCommits(ctx, []string{srv.URL}).figures(start, 2*time.Second)
	if f == nil {
		t.Fatal("no figures")
	}
	want := commitFigures{PerS: 50, EventsPerCommit: 4, MeanMs: 2.1, P50Ms: 1 + 50.0/60, P99Ms: 2 + 2*39.0/40}
	near := func(a, b float64) bool { return math.Abs(a-b) < 0.011 }
	if !near(f.PerS, want.PerS) || !near(f.EventsPerCommit, want.EventsPerCommit) || !near(f.MeanMs, want.MeanMs) ||
		!near(f.P50Ms, want.P50Ms) || !near(f.P99Ms, want.P99Ms) {
		t.Errorf("figures %+v, want %+v", *f, want)
	}

	empty := httptest.NewServer(promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{}))
	defer empty.Close()
	if s := scrapeCommits(ctx, []string{empty.URL}); s.ok || s.figures(start, time.Second) != nil {
		t.Errorf("a server without the histograms gave %+v", s)
	}
}
