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
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			accepted := steppedCount(tt.steps, 5, cancel) // 5 quiet looks after the steps
			trims := 0
			trimAfterBursts(ctx, accepted, time.Millisecond, 256, tt.gap, func() { trims++ })
			if trims != tt.want {
				t.Errorf("trims = %d, want %d", trims, tt.want)
			}
		})
	}
}

// steppedCount returns the counter a looping goroutine under test reads
// once per look: each call after the first adds the next of steps, and
// the call after len(steps)+after looks calls cancel. For that goroutine
// only.
func steppedCount(steps []uint64, after int, cancel func()) func() uint64 {
	var count uint64
	looks := 0
	return func() uint64 {
		if looks > 0 && looks <= len(steps) {
			count += steps[looks-1]
		}
		looks++
		if looks > len(steps)+after {
			cancel()
		}
		return count
	}
}
