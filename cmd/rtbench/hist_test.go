package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBucketBounds(t *testing.T) {
	// Every value falls in a bucket whose bounds hold it; buckets tile the
	// values without gaps; a bucket is at most 1/32 of its values wide.
	prevHi := uint64(0)
	for i := range numBuckets {
		lo, hi := bucketBounds(i)
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if hi < lo || (lo >= subCount && float64(hi-lo+1) > float64(lo)/subCount) {
			t.Fatalf("bucket %d: [%d, %d] too wide", i, lo, hi)
		}
		for _, v := range []uint64{lo, hi, lo + (hi-lo)/2} {
			if b := bucketOf(v); b != i {
				t.Fatalf("value %d: bucket %d, want %d", v, b, i)
			}
		}
		prevHi = hi
	}
	if prevHi != math.MaxUint64 {
		t.Fatalf("the last bucket ends at %d", prevHi)
	}
}

func TestQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values func(r *rand.Rand) int64
	}{
		{"uniform ms", func(r *rand.Rand) int64 { return r.Int64N(1e9) }},
		{"log-normal", func(r *rand.Rand) int64 { return int64(math.Exp(r.NormFloat64()*2 + 15)) }},
		{"small", func(r *rand.Rand) int64 { return r.Int64N(40) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			rec := NewRecorder(4)
			var vals []int64
			for i := range 100_000 {
				v := tc.values(r)
				vals = append(vals, v)
				rec.Record(i, v)
			}
			slices.Sort(vals)
			s := rec.Snapshot()
			if s.Count() != uint64(len(vals)) {
				t.Fatalf("count %d, want %d", s.Count(), len(vals))
			}
			if s.Max != uint64(vals[len(vals)-1]) {
				t.Fatalf("max %d, want %d", s.Max, vals[len(vals)-1])
			}
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
				want := float64(vals[int(q*float64(len(vals)))-1])
				got := float64(s.Quantile(q))
				if math.Abs(got-want) > want/subCount+1 {
					t.Errorf("q%g = %g, want %g ± 1/%d", q, got, want, subCount)
				}
			}
		})
	}
}

func TestSnapshotMergeSubJSON(t *testing.T) {
	a, b := NewRecorder(1), NewRecorder(1)
	for i := range 1000 {
		a.Record(0, int64(i)*1000)
	}
	mid := a.Snapshot()
	for i := range 500 {
		a.Record(0, 5e9+int64(i))
		b.Record(0, int64(i))
	}
	end := a.Snapshot()
	d := end.Sub(mid)
	if d.Count() != 500 || d.Quantile(0.5) < 5e9-5e9/subCount {
		t.Fatalf("interval: count %d, median %d", d.Count(), d.Quantile(0.5))
	}
	m := &Snapshot{}
	m.Merge(end)
	m.Merge(b.Snapshot())
	if m.Count() != 2000 || m.Max != end.Max {
		t.Fatalf("merged: count %d max %d", m.Count(), m.Max)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back != *m {
		t.Fatal("JSON round trip changed the snapshot")
	}
	if err := json.Unmarshal([]byte(`{"b":[[99999,1]],"max":1}`), &back); err == nil {
		t.Fatal("a bucket out of range was accepted")
	}
	var empty Snapshot
	if empty.Quantile(0.99) != 0 {
		t.Fatal("empty snapshot has a quantile")
	}
}

func TestRecordNegative(t *testing.T) {
	r := NewRecorder(1)
	r.Record(0, -5)
	if s := r.Snapshot(); s.Counts[0] != 1 || s.Max != 0 {
		t.Fatalf("negative value: %v max %d", s.Counts[:2], s.Max)
	}
}

func BenchmarkRecord(b *testing.B) {
	r := NewRecorder(8)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r.Record(i, int64(i)*997)
			i++
		}
	})
}
