package conns_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
	"github.com/rtbroker/rtbroker/gateways/conns"
)

// samples records observations.
type samples struct {
	mu sync.Mutex
	v  []float64
}

func (s *samples) Observe(v float64) {
	s.mu.Lock()
	s.v = append(s.v, v)
	s.mu.Unlock()
}

// TestDeliveriesSampling: events and bytes are counted per batch; the
// latency is observed once each time the count passes a multiple of
// SampleEvery, and only for a live event.
func TestDeliveriesSampling(t *testing.T) {
	var s samples
	d := conns.Deliveries{Latency: &s}
	ev := func(off uint64) *broker.Event {
		return &broker.Event{Offset: off, Time: time.Now().Add(-time.Second)}
	}
	batch := make([]*broker.Event, conns.SampleEvery/2)
	for i := range batch {
		batch[i] = ev(uint64(100 + i))
	}
	for range 4 { // 2 × SampleEvery events: two crossings
		d.Add(batch, 10, 0)
	}
	if d.Events() != 2*conns.SampleEvery || d.Bytes() != 40 || len(s.v) != 2 || s.v[0] < 1 {
		t.Errorf("events %d bytes %d samples %v; want %d, 40, two of about 1s", d.Events(), d.Bytes(), s.v, 2*conns.SampleEvery)
	}
	for range 2 { // a crossing on a replay: not observed
		d.Add(batch, 10, 1000)
	}
	if len(s.v) != 2 {
		t.Errorf("a replayed batch was sampled: %v", s.v)
	}
	d.Add(nil, 0, 0)
	var zero conns.Deliveries
	zero.Add(batch, 1, 0) // no Latency: counts only
	if zero.Events() != int64(len(batch)) {
		t.Errorf("zero Deliveries counted %d", zero.Events())
	}
}

// TestRegistry: entries get transport-prefixed ids, list oldest first,
// report their rooms and lag, and Disconnect closes Done and calls the
// Peer's Close once.
func TestRegistry(t *testing.T) {
	l := brokertest.NewMemLog()
	b := broker.New(l, broker.Config{})
	defer l.Close()
	defer b.Close()
	ctx := context.Background()
	for range 3 {
		if _, err := b.Publish(ctx, broker.Message{Room: "r", Type: "t", Data: json.RawMessage(`1`)}); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := b.Subscribe(ctx, []string{"r"}, broker.Position{Offset: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	reg := conns.New(conns.SSE)
	kicks := 0
	e1 := reg.Add(conns.Conn{User: "ada", Remote: "127.0.0.1:1", Sub: sub, Peer: conns.KickFunc(func() { kicks++ })})
	e2 := reg.Add(conns.Conn{User: "bob", Sub: sub})
	if e1.ID() != "sse-1" || e2.ID() != "sse-2" || reg.Len() != 2 {
		t.Fatalf("ids %s %s, len %d", e1.ID(), e2.ID(), reg.Len())
	}
	if snap := reg.Snapshot(); len(snap) != 2 || snap[0] != e1 {
		t.Errorf("snapshot %v, want e1 first", snap)
	}
	in := e1.Info(ctx, 100)
	if in.User != "ada" || in.Transport != "sse" || len(in.Rooms) != 1 || in.Lag != 2 {
		t.Errorf("info %+v, want ada on sse in r with lag 2", in)
	}
	e1.Disconnect()
	e1.Disconnect()
	select {
	case <-e1.Done():
	default:
		t.Error("Done not closed")
	}
	if kicks != 1 || !e1.Kicked() || e2.Kicked() {
		t.Errorf("kicks %d, kicked %v %v", kicks, e1.Kicked(), e2.Kicked())
	}
	reg.Remove(e1)
	reg.Remove(e1)
	if reg.Get("sse-1") != nil || reg.Get("sse-2") != e2 || reg.Len() != 1 {
		t.Errorf("after Remove: len %d", reg.Len())
	}
	for _, id := range []string{"sse-02", "sse-+2", "sse-2 ", "sse-", "sse2", "longpoll-2", "2", ""} {
		if e := reg.Get(id); e != nil {
			t.Errorf("Get(%q) = %s, want nil", id, e.ID())
		}
	}
	if since := e2.Since(); since.Location() != time.UTC || time.Since(since) < 0 || time.Since(since) > time.Minute {
		t.Errorf("Since %v, want a UTC time of now", since)
	}
}

// BenchmarkDeliveriesAdd is the per-batch cost the gateways' fan-out pays
// for the delivery metrics (counts, and the sampled latency), from
// parallel writers as the pump's workers are.
func BenchmarkDeliveriesAdd(b *testing.B) {
	var s samples
	d := conns.Deliveries{Latency: &s}
	batch := []*broker.Event{{Offset: 10, Time: time.Now()}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d.Add(batch, 200, 5)
		}
	})
}

// TestDoneAndDisconnect: Done taken before Disconnect is closed by it, Done
// first taken after it is closed already, and Done and Disconnect racing
// from many goroutines close it exactly once and call Close once.
func TestDoneAndDisconnect(t *testing.T) {
	reg := conns.New(conns.SSE)
	before := reg.Add(conns.Conn{})
	ch := before.Done()
	before.Disconnect()
	after := reg.Add(conns.Conn{})
	after.Disconnect()
	for name, c := range map[string]<-chan struct{}{"before": ch, "after": after.Done()} {
		select {
		case <-c:
		default:
			t.Errorf("Done taken %s Disconnect is not closed", name)
		}
	}
	for range 200 {
		var closes atomic.Int32
		e := reg.Add(conns.Conn{Peer: conns.KickFunc(func() { closes.Add(1) })})
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				if i%2 == 0 {
					e.Disconnect()
				} else {
					<-e.Done()
				}
			})
		}
		wg.Wait()
		if n := closes.Load(); n != 1 {
			t.Fatalf("Peer closed %d times", n)
		}
		reg.Remove(e)
	}
}
