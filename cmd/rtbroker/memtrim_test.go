package main

import (
	"context"
	"testing"
	"time"
)

// TestTrimAfterBursts drives the trimmer with an accept count that steps
// once per look (the ticker is real but fast; the count is what matters).
func TestTrimAfterBursts(t *testing.T) {
	tests := []struct {
		name  string
		steps []uint64 // accepts added before each look after the first
		gap   time.Duration
		want  int
	}{
		{"a burst then quiet", []uint64{200, 100}, time.Hour, 1},
		{"small bursts never add up", []uint64{100, 0, 100, 0, 100}, time.Hour, 0},
		{"no connections", nil, time.Hour, 0},
		{"two bursts inside the gap: one trim", []uint64{300, 0, 300}, time.Hour, 1},
		{"two bursts outside the gap: two trims", []uint64{300, 0, 300}, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const quiet = 5 // looks after the steps
			var count uint64
			looks := 0
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			accepted := func() uint64 { // called by the trimmer's goroutine only
				if looks > 0 && looks <= len(tt.steps) {
					count += tt.steps[looks-1]
				}
				looks++
				if looks > len(tt.steps)+quiet {
					cancel()
				}
				return count
			}
			trims := 0
			trimAfterBursts(ctx, accepted, time.Millisecond, 256, tt.gap, func() { trims++ })
			if trims != tt.want {
				t.Errorf("trims = %d, want %d", trims, tt.want)
			}
		})
	}
}
