package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"
)

// promTricky is exposition text with what a real scrape rarely holds:
// escaped label values, NaN and infinities, a timestamp, a HELP with
// braces, and a histogram whose quantiles are known.
const promTricky = `# HELP x_tricky A "help" with {braces} and \\ a backslash
# TYPE x_tricky gauge
x_tricky{a="q\"uote",b="back\\slash",c="new\nline"} -1.5e-3 1700000000000
x_tricky{a="nan"} NaN
x_tricky{a="inf"} +Inf
x_tricky{a="minf"} -Inf
x_tricky{a="spaces", b = "x" } 42
# TYPE x_hist histogram
x_hist_bucket{le="1"} 2
x_hist_bucket{le="2"} 6
x_hist_bucket{le="4"} 8
x_hist_bucket{le="+Inf"} 10
x_hist_sum 25
x_hist_count 10
`

// TestDashboardPromParser runs the dashboard's Prometheus text reader
// (web/static/dashboard/prom.js, in Node) on a real /metrics scrape taken
// after some publishes, plus promTricky, and checks that it reads every
// sample client_golang's own parser (expfmt) reads, with the same labels
// and value, and nothing else; and that its histogram quantiles are
// Prometheus' histogram_quantile on a histogram worked out by hand.
func TestDashboardPromParser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node")
	}
	node := requireTool(t, "node")
	srv := startServer(t, "")
	for i := range 5 {
		res, err := http.Post(srv.URL+"/api/rooms/prom/events", "application/json", strings.NewReader(fmt.Sprintf(`{"type":"t","data":%d}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d, %v", res.StatusCode, err)
	}
	text := string(scrape) + promTricky

	got := runPromParse(t, node, text)
	if got.Skipped != 0 {
		t.Errorf("prom.js skipped %d lines", got.Skipped)
	}
	t.Logf("%d samples read alike", sameSamples(t, got, expfmtSamples(t, text)))

	// x_hist: 2 observations ≤ 1, 4 in (1, 2], 2 in (2, 4], 2 above 4.
	for q, w := range map[string]string{
		"0.1": "0.5", "0.5": "1.75", "0.99": "4", // linear in the bucket; the +Inf bucket answers the last bound
		"0.1 upper": "1", "0.5 upper": "2", "0.99 upper": "4",
	} {
		if g := got.Quantiles["x_hist "+q]; g != w {
			t.Errorf("quantile %s of x_hist = %s, want %s", q, g, w)
		}
	}
	if g := got.Quantiles["rtbroker_commit_batch_events 0.5 upper"]; g != "1" {
		t.Errorf("median batch of five single publishes = %s, want 1", g)
	}
}

// sampleKey is a sample as one comparable line.
func sampleKey(name string, labels map[string]string, v float64) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%q", k, labels[k])
	}
	switch {
	case math.IsNaN(v):
		b.WriteString(" NaN")
	default:
		fmt.Fprintf(&b, " %g", v)
	}
	return b.String()
}

// expfmtSamples parses text with client_golang's parser and flattens its
// families into the samples of the text format.
func expfmtSamples(t *testing.T, text string) []string {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("expfmt: %v", err)
	}
	var out []string
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			with := func(k, v string) map[string]string {
				c := map[string]string{k: v}
				for a, b := range labels {
					c[a] = b
				}
				return c
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out = append(out, sampleKey(name, labels, m.GetCounter().GetValue()))
			case dto.MetricType_GAUGE:
				out = append(out, sampleKey(name, labels, m.GetGauge().GetValue()))
			case dto.MetricType_UNTYPED:
				out = append(out, sampleKey(name, labels, m.GetUntyped().GetValue()))
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					out = append(out, sampleKey(name, with("quantile", strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64)), q.GetValue()))
				}
				out = append(out, sampleKey(name+"_sum", labels, s.GetSampleSum()), sampleKey(name+"_count", labels, float64(s.GetSampleCount())))
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				inf := false
				for _, b := range h.GetBucket() {
					le := strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)
					if math.IsInf(b.GetUpperBound(), 1) {
						le, inf = "+Inf", true
					}
					out = append(out, sampleKey(name+"_bucket", with("le", le), float64(b.GetCumulativeCount())))
				}
				if !inf { // the text's +Inf bucket is the count
					out = append(out, sampleKey(name+"_bucket", with("le", "+Inf"), float64(h.GetSampleCount())))
				}
				out = append(out, sampleKey(name+"_sum", labels, h.GetSampleSum()), sampleKey(name+"_count", labels, float64(h.GetSampleCount())))
			default:
				t.Fatalf("family %s: type %v", name, f.GetType())
			}
		}
	}
	return out
}

// promParsed is what testdata/prom-parse.mjs prints.
type promParsed struct {
	Samples []struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
		Value  string            `json:"value"`
	} `json:"samples"`
	Skipped   int               `json:"skipped"`
	Quantiles map[string]string `json:"quantiles"`
}

// runPromParse runs the dashboard's reader in Node on text.
func runPromParse(t *testing.T, node, text string) promParsed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--no-warnings", filepath.Join("testdata", "prom-parse.mjs"))
	cmd.Stdin = strings.NewReader(text)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node: %v\n%s", err, &stderr)
	}
	var got promParsed
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("node's answer: %v\n%s", err, &stdout)
	}
	return got
}

// sameSamples reports where got's samples differ from want's (sampleKey
// lines) and returns how many there are.
func sameSamples(t *testing.T, got promParsed, want []string) int {
	t.Helper()
	gotSet := make([]string, 0, len(got.Samples))
	for _, s := range got.Samples {
		v, err := strconv.ParseFloat(s.Value, 64)
		if err != nil {
			t.Errorf("%s: value %q: %v", s.Name, s.Value, err)
		}
		gotSet = append(gotSet, sampleKey(s.Name, s.Labels, v))
	}
	sort.Strings(gotSet)
	sort.Strings(want)
	if strings.Join(gotSet, "\n") != strings.Join(want, "\n") {
		t.Errorf("prom.js read:\n%s\n\nexpfmt read:\n%s", strings.Join(gotSet, "\n"), strings.Join(want, "\n"))
	}
	return len(want)
}

// TestDashboardPromParserGenerated writes families of every type with
// label values full of what needs escaping (quotes, backslashes,
// newlines, braces, commas, '=' and non-ASCII) and values of every form
// (negative, tiny, huge, integral, NaN, ±Inf) with client_golang's own
// text encoder, and checks that the dashboard's reader reads back every
// sample as expfmt does. The generator is seeded: a failure repeats.
func TestDashboardPromParserGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node")
	}
	node := requireTool(t, "node")
	rng := rand.New(rand.NewPCG(12, 2026))
	pieces := []string{"a", "Z", "0", " ", "\"", "\\", "\n", "{", "}", ",", "=", "é", "日本", "#", "\t", "le", "+Inf"}
	str := func() string {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	floats := []float64{0, 1, -1, 0.5, 1e-9, 3.2e21, -7.25e-3, 42, math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64}
	num := func() float64 {
		if rng.IntN(2) == 0 {
			return floats[rng.IntN(len(floats))]
		}
		return (rng.Float64() - 0.5) * math.Pow(10, float64(rng.IntN(20)-10))
	}
	labels := func() []*dto.LabelPair {
		var ls []*dto.LabelPair
		for i := range rng.IntN(4) {
			ls = append(ls, &dto.LabelPair{Name: proto.String(fmt.Sprintf("l%d_%c", i, 'a'+rng.IntN(26))), Value: proto.String(str())})
		}
		return ls
	}
	var text bytes.Buffer
	for f := range 60 {
		name := fmt.Sprintf("gen_%d_%s", f, strings.Repeat("x", rng.IntN(3)))
		typ := []dto.MetricType{dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_UNTYPED, dto.MetricType_SUMMARY, dto.MetricType_HISTOGRAM}[f%5]
		fam := &dto.MetricFamily{Name: proto.String(name), Help: proto.String(str()), Type: &typ}
		for i := range 1 + rng.IntN(4) {
			m := &dto.Metric{Label: labels()}
			if i > 0 { // no two series of a family with the same labels
				m.Label = append(m.Label, &dto.LabelPair{Name: proto.String("series"), Value: proto.String(strconv.Itoa(i))})
			}
			switch typ {
			case dto.MetricType_COUNTER:
				m.Counter = &dto.Counter{Value: proto.Float64(math.Abs(num()))}
			case dto.MetricType_GAUGE:
				m.Gauge = &dto.Gauge{Value: proto.Float64(num())}
			case dto.MetricType_UNTYPED:
				m.Untyped = &dto.Untyped{Value: proto.Float64(num())}
			case dto.MetricType_SUMMARY:
				m.Summary = &dto.Summary{SampleCount: proto.Uint64(rng.Uint64N(1000)), SampleSum: proto.Float64(num()),
					Quantile: []*dto.Quantile{{Quantile: proto.Float64(0.5), Value: proto.Float64(num())}, {Quantile: proto.Float64(0.99), Value: proto.Float64(num())}}}
			case dto.MetricType_HISTOGRAM:
				var cum uint64
				var bs []*dto.Bucket
				for i := range 1 + rng.IntN(5) {
					cum += rng.Uint64N(50)
					bs = append(bs, &dto.Bucket{UpperBound: proto.Float64(math.Pow(2, float64(i)) / 1000), CumulativeCount: proto.Uint64(cum)})
				}
				m.Histogram = &dto.Histogram{SampleCount: proto.Uint64(cum + rng.Uint64N(5)), SampleSum: proto.Float64(num()), Bucket: bs}
			}
			fam.Metric = append(fam.Metric, m)
		}
		if _, err := expfmt.MetricFamilyToText(&text, fam); err != nil {
			t.Fatalf("encode %s: %v", name, err)
		}
	}
	got := runPromParse(t, node, text.String())
	if got.Skipped != 0 {
		t.Errorf("prom.js skipped %d lines of:\n%s", got.Skipped, &text)
	}
	n := sameSamples(t, got, expfmtSamples(t, text.String()))
	t.Logf("%d generated samples read alike", n)
}
