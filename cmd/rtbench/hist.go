package main

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"sync/atomic"
)

// The histograms are log-linear: values below subCount have a bucket each;
// above, every power of two is split into subCount equal buckets, so a
// bucket's width is at most 1/subCount (about 3 %) of its values. Memory
// is fixed (numBuckets counters) whatever is recorded, and two histograms
// merge by adding their counters.
const (
	subBits    = 5
	subCount   = 1 << subBits
	numBuckets = (64 - subBits + 1) * subCount
)

// bucketOf returns the bucket of v.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - 1 // >= subBits
	sub := (v >> (e - subBits)) & (subCount - 1)
	return (e-subBits+1)*subCount + int(sub)
}

// bucketBounds returns the smallest and largest value of bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	e := i/subCount + subBits - 1
	sub := uint64(i % subCount)
	shift := e - subBits
	lo = (subCount + sub) << shift
	return lo, lo + (1 << shift) - 1
}

// Histogram counts values (nanoseconds here) in log-linear buckets. Record
// is safe for concurrent use and does not allocate; Snapshot reads a
// consistent-enough copy while recording goes on (each counter is read
// atomically).
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	max    atomic.Uint64
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	u := uint64(v)
	h.counts[bucketOf(u)].Add(1)
	for {
		m := h.max.Load()
		if u <= m || h.max.CompareAndSwap(m, u) {
			return
		}
	}
}

// addTo adds the histogram's counts to s.
func (h *Histogram) addTo(s *Snapshot) {
	for i := range h.counts {
		s.Counts[i] += h.counts[i].Load()
	}
	s.Max = max(s.Max, h.max.Load())
}

// Recorder is a histogram sharded to keep concurrent recorders off each
// other's cache lines. Safe for concurrent use.
type Recorder struct {
	shards []Histogram
}

// NewRecorder returns a recorder with n shards (at least 1).
func NewRecorder(n int) *Recorder {
	return &Recorder{shards: make([]Histogram, max(n, 1))}
}

// Record adds v to the shard chosen by key (any integer, e.g. a client
// index).
func (r *Recorder) Record(key int, v int64) {
	r.shards[uint(key)%uint(len(r.shards))].Record(v)
}

// Snapshot returns the sum of the shards.
func (r *Recorder) Snapshot() *Snapshot {
	s := &Snapshot{}
	for i := range r.shards {
		r.shards[i].addTo(s)
	}
	return s
}

// Snapshot is a plain copy of a histogram: mergeable (Merge), comparable
// over time (Sub) and queryable (Quantile). It encodes to JSON sparsely,
// as {"b":[[bucket,count],…],"max":N}. Not safe for concurrent use.
type Snapshot struct {
	Counts [numBuckets]uint64
	Max    uint64
}

// Merge adds o's counts to s.
func (s *Snapshot) Merge(o *Snapshot) {
	if o == nil {
		return
	}
	for i, c := range o.Counts {
		s.Counts[i] += c
	}
	s.Max = max(s.Max, o.Max)
}

// Sub returns s minus an earlier snapshot of the same histogram (the
// values recorded in between). Max stays s's maximum: it cannot be
// subtracted, so an interval's max is an upper bound.
func (s *Snapshot) Sub(earlier *Snapshot) *Snapshot {
	d := &Snapshot{Max: s.Max}
	for i, c := range s.Counts {
		if earlier != nil {
			c -= min(c, earlier.Counts[i])
		}
		d.Counts[i] = c
	}
	return d
}

// Count returns how many values were recorded.
func (s *Snapshot) Count() uint64 {
	var n uint64
	for _, c := range s.Counts {
		n += c
	}
	return n
}

// Quantile returns the value at quantile q (0..1): the middle of the
// bucket holding it, never above Max. An empty snapshot gives 0.
func (s *Snapshot) Quantile(q float64) uint64 {
	total := s.Count()
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	rank = min(max(rank, 1), total)
	var seen uint64
	for i, c := range s.Counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketBounds(i)
			return min(lo+(hi-lo)/2, max(s.Max, lo))
		}
	}
	return s.Max
}

type snapshotJSON struct {
	B   [][2]uint64 `json:"b"`
	Max uint64      `json:"max"`
}

// MarshalJSON encodes the non-empty buckets only.
func (s *Snapshot) MarshalJSON() ([]byte, error) {
	j := snapshotJSON{B: [][2]uint64{}, Max: s.Max}
	for i, c := range s.Counts {
		if c > 0 {
			j.B = append(j.B, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (s *Snapshot) UnmarshalJSON(b []byte) error {
	var j snapshotJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Snapshot{Max: j.Max}
	for _, bc := range j.B {
		if bc[0] >= numBuckets {
			return fmt.Errorf("histogram bucket %d out of range", bc[0])
		}
		s.Counts[bc[0]] += bc[1]
	}
	return nil
}
