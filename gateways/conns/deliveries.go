package conns

import (
	"sync/atomic"
	"time"

	"github.com/rtbroker/rtbroker/broker"
)

// Observer receives samples; a prometheus.Observer (a histogram) is one.
// It must be safe for concurrent use.
type Observer interface {
	Observe(float64)
}

// SampleEvery is how often Deliveries samples the publish→deliver
// latency: one batch each time the count of delivered events passes a
// multiple of it.
const SampleEvery = 128

// Deliveries counts what a gateway sends to its clients: events and
// bytes, with one atomic add each per batch a connection writes, none per
// event; and it samples the publish→deliver latency of live events (see
// Add). The zero value counts and samples nothing; set Latency before the
// gateway serves. Safe for concurrent use.
type Deliveries struct {
	events, bytes atomic.Int64
	// Latency, when set, receives sampled publish→deliver latencies in
	// seconds. Set once, before use.
	Latency Observer
}

// Add counts a batch of evs written (or about to be written) to one
// connection as size bytes. When the total passes a multiple of
// SampleEvery, the batch's last event, if it is live (its offset is above
// liveAfter, the subscription's LiveAfter: committed after the client
// followed its room, not a replay), is observed: the time since the
// event was accepted (its Time), which covers the commit, the fan-out and
// the wait of a slow client.
func (d *Deliveries) Add(evs []*broker.Event, size int, liveAfter uint64) {
	n := int64(len(evs))
	if n == 0 {
		return
	}
	total := d.events.Add(n)
	d.bytes.Add(int64(size))
	if d.Latency == nil || total/SampleEvery == (total-n)/SampleEvery {
		return
	}
	if ev := evs[len(evs)-1]; ev.Offset > liveAfter {
		d.Latency.Observe(time.Since(ev.Time).Seconds())
	}
}

// Events returns how many events were counted.
func (d *Deliveries) Events() int64 { return d.events.Load() }

// Bytes returns how many bytes were counted.
func (d *Deliveries) Bytes() int64 { return d.bytes.Load() }
