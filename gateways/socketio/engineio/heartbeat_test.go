package engineio

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestHeartbeat drives the scheduler on a fake clock: pings every
// interval while pongs come back, a timeout when they stop.
func TestHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		pings := map[*Conn]int{}
		timeouts := map[*Conn]time.Duration{}
		start := time.Now()
		var hb *heartbeat
		hb = newHeartbeat(300*time.Millisecond, 200*time.Millisecond,
			func(c *Conn) {
				mu.Lock()
				pings[c]++
				mu.Unlock()
			},
			func(c *Conn) {
				mu.Lock()
				timeouts[c] = time.Since(start)
				mu.Unlock()
			})
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { hb.run(done) })

		alive, dead, gone := &Conn{}, &Conn{}, &Conn{}
		for _, c := range []*Conn{alive, dead, gone} {
			hb.schedulePing(c)
		}
		hb.remove(gone)
		// alive answers every ping 50ms later.
		for range 5 {
			time.Sleep(350 * time.Millisecond)
			synctest.Wait()
			hb.schedulePing(alive)
		}
		synctest.Wait()
		close(done)
		wg.Wait()

		mu.Lock()
		defer mu.Unlock()
		if got := pings[alive]; got != 5 {
			t.Errorf("alive got %d pings, want 5", got)
		}
		if _, ok := timeouts[alive]; ok {
			t.Error("alive timed out")
		}
		if got := pings[dead]; got != 1 {
			t.Errorf("dead got %d pings, want 1", got)
		}
		if d, ok := timeouts[dead]; !ok || d > 500*time.Millisecond || d < 490*time.Millisecond {
			t.Errorf("dead timed out after %v (%v), want ~500ms", d, ok)
		}
		if pings[gone] != 0 || timeouts[gone] != 0 {
			t.Error("removed connection was pinged")
		}
	})
}

// TestHeartbeatOrder checks the sorted insertion of the intrusive lists.
func TestHeartbeatOrder(t *testing.T) {
	hb := newHeartbeat(time.Second, time.Second, func(*Conn) {}, func(*Conn) {})
	var cs []*Conn
	for _, off := range []int{5, 1, 3, 9, 0, 7} {
		c := &Conn{hbAt: time.Duration(off) * time.Millisecond, hbIn: hbPing}
		hb.insert(c)
		cs = append(cs, c)
	}
	hb.unlink(cs[2]) // 3
	var got []time.Duration
	for c := hb.ping.head; c != nil; c = c.hbNext {
		got = append(got, c.hbAt/time.Millisecond)
	}
	want := []time.Duration{0, 1, 5, 7, 9}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if hb.ping.tail.hbAt != 9*time.Millisecond {
		t.Error("tail is not the latest")
	}
}

// heartbeatSessions is how many sessions the heartbeat benchmarks keep
// scheduled: the idle-connection scale the heartbeat is built for.
const heartbeatSessions = 10_000

// BenchmarkHeartbeatPong measures one pong (a session's next ping
// rescheduled) among heartbeatSessions scheduled sessions, none due.
func BenchmarkHeartbeatPong(b *testing.B) {
	hb := newHeartbeat(time.Hour, time.Hour, func(*Conn) {}, func(*Conn) {})
	cs := make([]*Conn, heartbeatSessions)
	for i := range cs {
		cs[i] = &Conn{}
		hb.schedulePing(cs[i])
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		hb.schedulePing(cs[i])
		i = (i + 1) % len(cs)
	}
}

// BenchmarkHeartbeatCycle measures a whole heartbeat cycle of one session
// (due, pinged by the heartbeat goroutine, pong rescheduling the next
// ping) with heartbeatSessions sessions always due: what the sweep costs
// per connection per tick, allocations included.
func BenchmarkHeartbeatCycle(b *testing.B) {
	var pings atomic.Int64
	enough := make(chan struct{})
	target := int64(b.N)
	var hb *heartbeat
	hb = newHeartbeat(time.Nanosecond, time.Hour, func(c *Conn) {
		hb.schedulePing(c) // the pong, at once
		if pings.Add(1) == target {
			close(enough)
		}
	}, func(*Conn) { b.Error("timeout") })
	for range heartbeatSessions {
		hb.schedulePing(&Conn{})
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	wg.Go(func() { hb.run(done) })
	<-enough
	b.StopTimer()
	close(done)
	wg.Wait()
}
