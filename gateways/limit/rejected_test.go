package limit

import (
	"testing"
	"time"
)

// TestRejected: the limits count what they refuse, and only that; nil
// (unlimited) limits count nothing.
func TestRejected(t *testing.T) {
	now := time.Unix(0, 0)
	b := NewBuckets(Rate{PerSecond: 1, Burst: 2}, 0, func() time.Time { return now })
	c := NewConns(1)
	for range 5 {
		b.Allow("k")
		c.Acquire("ip")
	}
	for _, tc := range []struct {
		name string
		got  int64
		want int64
	}{
		{"buckets: 5 requests, burst 2", b.Rejected(), 3},
		{"conns: 5 connections, cap 1", c.Rejected(), 4},
		{"nil buckets", (*Buckets)(nil).Rejected(), 0},
		{"nil conns", (*Conns)(nil).Rejected(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("Rejected = %d, want %d", tc.got, tc.want)
			}
		})
	}
}
