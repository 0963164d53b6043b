package main

import (
	"context"
	"runtime/debug"
	"time"
)

// defaultBusyGCPercent is --busy-gc-percent: the GOGC of a busy broker.
const defaultBusyGCPercent = 200

// Pacing the garbage collector by load (see paceGC).
const (
	paceEvery   = time.Second // how often the publish count is looked at
	busyPerLook = 500         // events published in one look that make the broker busy
	calmLooks   = 5           // looks in a row under half busyPerLook that end it
	baseGC      = 100         // the GOGC of a broker that is not busy: Go's default
)

// paceGC runs the garbage collector less often while the broker is busy
// publishing: GOGC busy from the first look (every `every`) that counts
// at least perLook new events, base again after calm looks in a row
// under half that. A collection's mark shares the CPU with delivery: on
// one core, 10,000 subscribers of 1,000 rooms at 2,000 events/s (the
// rooms benchmark) collect every ~2.5 s with 90–190 ms of mark each, and
// the slowest 1 % of deliveries wait behind one; at GOGC 200 half as
// many do. The heap of a busy broker may grow to 3× its live size
// instead of 2× (GOMEMLIMIT still caps it); a broker that is not
// publishing, however many connections it holds, keeps Go's default.
// set is debug.SetGCPercent.
func paceGC(ctx context.Context, published func() uint64, every time.Duration, perLook uint64, base, busy int, set func(int) int) {
	t := time.NewTicker(every)
	defer t.Stop()
	last := published()
	fast, calm := false, 0
	for {
		select {
		case <-ctx.Done():
			if fast {
				set(base)
			}
			return
		case <-t.C:
		}
		n := published()
		rate := n - last
		last = n
		switch {
		case rate >= perLook:
			calm = 0
			if !fast {
				set(busy)
				fast = true
			}
		case !fast:
		case rate < perLook/2:
			if calm++; calm >= calmLooks {
				set(base)
				fast, calm = false, 0
			}
		default:
			calm = 0
		}
	}
}

// setGCPercent is the pacer's setter of a running server.
func setGCPercent(p int) int { return debug.SetGCPercent(p) }
