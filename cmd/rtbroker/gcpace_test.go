package main

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestPaceGC: the pacer's GOGC settings for a sequence of looks, each
// counting that many new events (perLook 100: busy from 100, calm under
// 50 for calmLooks looks in a row), and the base restored when the
// server stops while busy.
func TestPaceGC(t *testing.T) {
	tests := []struct {
		name  string
		steps []uint64 // events published before each look after the first
		want  string   // the GOGC values set, in order
	}{
		{"idle", []uint64{0, 0, 0}, "[]"},
		{"slow publishing", []uint64{99, 99, 99, 99, 99, 99}, "[]"},
		{"busy then calm", []uint64{100, 500, 0, 0, 0, 0, 0, 0}, "[200 100]"},
		{"a lull shorter than calmLooks", []uint64{100, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0}, "[200 100]"},
		{"half the rate keeps it busy", []uint64{100, 50, 50, 50, 50, 50, 50}, "[200 100]"}, // the last 100: set by the stop
		{"busy twice", []uint64{100, 0, 0, 0, 0, 0, 300, 0, 0, 0, 0, 0}, "[200 100 200 100]"},
		{"stopped while busy", []uint64{100, 100}, "[200 100]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			published := steppedCount(tt.steps, 0, cancel)
			var set []int
			paceGC(ctx, published, time.Millisecond, 100, 100, 200, func(p int) int { set = append(set, p); return 0 })
			if got := fmt.Sprint(set); got != tt.want {
				t.Errorf("GOGC set to %s, want %s", got, tt.want)
			}
		})
	}
}
