package main

import (
	"context"
	"math"
	"net/http"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The log's commit histograms on rtbroker's /metrics: what a measured
// window's durable commits took on the server, fsync included, is the
// floor under its publish and delivery latencies in the same run.
const (
	commitSecondsMetric = "rtbroker_commit_seconds"
	commitEventsMetric  = "rtbroker_commit_batch_events"
)

// histogram is a cumulative Prometheus histogram, summed over nodes.
type histogram struct {
	count  uint64
	sum    float64
	bounds []float64 // upper bounds, ascending, +Inf excluded
	cum    []uint64  // cumulative counts per bound
}

// commitSnap is the server's commit histograms at one moment; ok is false
// when the server does not expose them (the Node peer, a JetStream log, a
// /metrics closed to anonymous readers).
type commitSnap struct {
	seconds, events histogram
	ok              bool
}

// scrapeCommits reads the commit histograms of every distinct node of
// bases, summed.
func scrapeCommits(ctx context.Context, bases []string) commitSnap {
	var s commitSnap
	for _, base := range slices.Compact(slices.Sorted(slices.Values(bases))) {
		fams, err := scrapeMetrics(ctx, base)
		if err != nil {
			return commitSnap{}
		}
		sec, ok1 := fams[commitSecondsMetric]
		ev, ok2 := fams[commitEventsMetric]
		if !ok1 || !ok2 || len(sec.GetMetric()) == 0 || len(ev.GetMetric()) == 0 {
			return commitSnap{}
		}
		s.seconds.add(sec.GetMetric()[0].GetHistogram())
		s.events.add(ev.GetMetric()[0].GetHistogram())
		s.ok = true
	}
	return s
}

func scrapeMetrics(ctx context.Context, base string) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &errStatus{code: resp.StatusCode}
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// add sums h into the histogram (the nodes of a cluster share bounds).
func (x *histogram) add(h *dto.Histogram) {
	if h == nil {
		return
	}
	x.count += h.GetSampleCount()
	x.sum += h.GetSampleSum()
	bs := h.GetBucket()
	if x.bounds == nil {
		x.cum = make([]uint64, 0, len(bs))
		for _, b := range bs {
			if !math.IsInf(b.GetUpperBound(), 1) {
				x.bounds = append(x.bounds, b.GetUpperBound())
				x.cum = append(x.cum, 0)
			}
		}
	}
	for i, b := range bs {
		if i < len(x.cum) {
			x.cum[i] += b.GetCumulativeCount()
		}
	}
}

// sub is x minus an earlier snapshot of the same histogram: the window
// between them.
func (x histogram) sub(y histogram) histogram {
	d := histogram{count: x.count - y.count, sum: x.sum - y.sum, bounds: x.bounds, cum: slices.Clone(x.cum)}
	for i := range d.cum {
		if i < len(y.cum) {
			d.cum[i] -= y.cum[i]
		}
	}
	return d
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile
// does: linear within the bucket that holds it; the highest finite bound
// when it lies above them all.
func (x histogram) quantile(q float64) float64 {
	if x.count == 0 || len(x.bounds) == 0 {
		return 0
	}
	rank := q * float64(x.count)
	lower, below := 0.0, uint64(0)
	for i, c := range x.cum {
		if float64(c) >= rank {
			in := c - below
			if in == 0 {
				return x.bounds[i]
			}
			return lower + (x.bounds[i]-lower)*(rank-float64(below))/float64(in)
		}
		lower, below = x.bounds[i], c
	}
	return x.bounds[len(x.bounds)-1]
}

// commitFigures are a window's commits on the server.
type commitFigures struct {
	PerS            float64 `json:"per_s"` // commits (transactions, each with its fsyncs) per second
	EventsPerCommit float64 `json:"events_per_commit"`
	MeanMs          float64 `json:"mean_ms"` // exact: the histogram's sum ÷ count
	P50Ms           float64 `json:"p50_ms"`  // estimated from the buckets
	P99Ms           float64 `json:"p99_ms"`
}

// figures returns the commits between start and s over el, nil when
// either snapshot is missing or no commit was made.
func (s commitSnap) figures(start commitSnap, el time.Duration) *commitFigures {
	if !s.ok || !start.ok {
		return nil
	}
	sec, ev := s.seconds.sub(start.seconds), s.events.sub(start.events)
	if sec.count == 0 || el <= 0 {
		return nil
	}
	ms := func(v float64) float64 { return math.Round(v*1e5) / 100 } // s → ms, two decimals
	return &commitFigures{
		PerS:            round1(float64(sec.count) / el.Seconds()),
		EventsPerCommit: round1(ev.sum / float64(max(ev.count, 1))),
		MeanMs:          ms(sec.sum / float64(sec.count)),
		P50Ms:           ms(sec.quantile(0.5)),
		P99Ms:           ms(sec.quantile(0.99)),
	}
}
