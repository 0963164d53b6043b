package main

import (
	"context"
	"net"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n atomic.Uint64
}

// Accept implements net.Listener.
func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// defaultMemoryRelease is --memory-release: trimming after connection
// bursts is on unless turned off.
const defaultMemoryRelease = true

// Trimming after connection bursts (see trimAfterBursts).
const (
	trimEvery    = time.Second      // how often the accept count is looked at
	trimMinBurst = 256              // accepts that make a burst
	trimMinGap   = 10 * time.Second // between two trims
)

// trimAfterBursts returns freed memory to the operating system once a
// burst of new connections (a reconnect storm, clients coming back after
// a deploy) has ended. Setting a connection up allocates several times
// what it keeps (the HTTP request, the upgrade's buffers), so after
// thousands of them the heap holds garbage up to twice its live size
// until the next collection, and the runtime keeps those pages. A burst
// is at least minBurst accepts in a row of intervals; it has ended after
// an interval without any. trim runs at most once per minGap.
func trimAfterBursts(ctx context.Context, accepted func() uint64, every time.Duration, minBurst uint64, minGap time.Duration, trim func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	last := accepted()
	var burst uint64
	var trimmed time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := accepted()
		switch {
		case n != last:
			burst += n - last
		case burst >= minBurst && time.Since(trimmed) >= minGap:
			trim()
			trimmed = time.Now()
			burst = 0
		case burst < minBurst:
			burst = 0
		}
		last = n
	}
}

// freeOSMemory is the trim of a running server.
func freeOSMemory() { debug.FreeOSMemory() }
