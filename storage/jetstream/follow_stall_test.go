package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/storage/jetstream"
)

// followed records what a follower delivered, following again from the
// last delivered offset whenever Follow returns, as broker.Broker does.
type followed struct {
	mu   sync.Mutex
	offs []uint64 // every offset delivered, in delivery order
	errs []error  // what stopped Follow
}

func (f *followed) last() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.offs) == 0 {
		return 0
	}
	return f.offs[len(f.offs)-1]
}

// run follows l until ctx ends.
func (f *followed) run(ctx context.Context, l *jetstream.Log) {
	for ctx.Err() == nil {
		err := l.Follow(ctx, f.last(), func(evs []*broker.Event) {
			f.mu.Lock()
			defer f.mu.Unlock()
			for _, ev := range evs {
				f.offs = append(f.offs, ev.Offset)
			}
		})
		if ctx.Err() != nil {
			return
		}
		f.mu.Lock()
		f.errs = append(f.errs, err)
		f.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// check fails t unless the offsets delivered are exactly 1..last, in
// order, each once (nothing is trimmed in these tests).
func (f *followed) check(t *testing.T, last uint64) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if uint64(len(f.offs)) != last {
		t.Errorf("delivered %d offsets, want %d", len(f.offs), last)
	}
	for i, o := range f.offs {
		if o != uint64(i+1) {
			t.Fatalf("delivery %d is offset %d, want %d (a gap or a duplicate)", i, o, i+1)
		}
	}
}

// connectTo connects to the servers with urls[0] first and reconnects to
// the others when it is lost, as an rtbroker node given a NATS cluster's
// URLs does.
func connectTo(t *testing.T, urls []string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(strings.Join(urls, ","), nats.DontRandomize(), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// urlsFrom returns the servers' client URLs starting with servers[i].
func urlsFrom(servers []*server.Server, i int) []string {
	var urls []string
	for k := range servers {
		urls = append(urls, servers[(i+k)%len(servers)].ClientURL())
	}
	return urls
}

// serverNamed returns the index of the server called name.
func serverNamed(t *testing.T, servers []*server.Server, name string) int {
	t.Helper()
	for i, s := range servers {
		if s.Name() == name {
			return i
		}
	}
	t.Fatalf("no server %q", name)
	return -1
}

// streamPlaces returns the server leading the stream and the one that
// hosts the (single) ordered consumer of the follower.
func streamPlaces(t *testing.T, nc *nats.Conn, stream string) (leader, consumer string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js, err := njs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil {
		st, err := js.Stream(ctx, stream)
		if err == nil {
			info, ierr := st.Info(ctx)
			lister := st.ListConsumers(ctx)
			for ci := range lister.Info() {
				if ci.Cluster != nil && ci.Config.MemoryStorage {
					consumer = ci.Cluster.Leader
				}
			}
			if ierr == nil && info.Cluster != nil && info.Cluster.Leader != "" && consumer != "" {
				return info.Cluster.Leader, consumer
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no stream leader or follower consumer within 30s")
	return "", ""
}

// TestFollowAfterNATSServerDies: an R3 stream on a three-server cluster,
// one node appending and another following; one server is shut down in
// the middle of the appends — the stream's leader, the follower's own
// server, or the server hosting its ordered consumer. Once the appends
// are over, the follower delivers every offset of the stream, in order,
// each once, within a bound.
func TestFollowAfterNATSServerDies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		victim func(t *testing.T, servers []*server.Server, follower int, leader, consumer string) int
	}{
		{name: "stream leader", victim: func(t *testing.T, s []*server.Server, _ int, leader, _ string) int {
			return serverNamed(t, s, leader)
		}},
		{name: "follower's server", victim: func(_ *testing.T, _ []*server.Server, follower int, _, _ string) int {
			return follower
		}},
		{name: "consumer's server", victim: func(t *testing.T, s []*server.Server, _ int, _, consumer string) int {
			return serverNamed(t, s, consumer)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			followAfterServerDies(t, tc.victim)
		})
	}
}

// caughtUpWithin bounds how long the follower may take, once the stream
// is writable again after the shutdown, to deliver what was appended: the
// watchdog's bound (StallAfter plus two probe periods, 4 s) with room for
// a loaded machine. Without the watchdog, a follower whose consumer lived
// on the dead server stays silent until nats.go misses two heartbeats
// (10 s), with no error reaching Follow.
const caughtUpWithin = 8 * time.Second

// startFollower opens an R3 Log through servers[follower] (retrying while
// the cluster settles) and follows it into f until stop is called.
func startFollower(ctx context.Context, t *testing.T, servers []*server.Server, follower int, cfg jetstream.Config) (fl *jetstream.Log, f *followed, stop func()) {
	t.Helper()
	fl = settled(t, ctx, func() (*jetstream.Log, error) {
		return jetstream.Open(ctx, connectTo(t, urlsFrom(servers, follower)), cfg)
	})
	t.Cleanup(func() { _ = fl.Close() })
	f = &followed{}
	fctx, fstop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { f.run(fctx, fl) })
	return fl, f, func() { fstop(); wg.Wait() }
}

func followAfterServerDies(t *testing.T, victimOf func(*testing.T, []*server.Server, int, string, string) int) {
	servers := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const follower = 1
	cfg := jetstream.Config{Replicas: 3}
	_, f, stop := startFollower(ctx, t, servers, follower, cfg)
	defer stop()

	leader, consumer := streamPlaces(t, connectTo(t, urlsFrom(servers, 0)), jetstream.DefaultStream)
	victim := victimOf(t, servers, follower, leader, consumer)
	t.Logf("stream leader %s, consumer on %s, follower on %s; shutting down %s", leader, consumer, servers[follower].Name(), servers[victim].Name())
	appender := (victim + 1) % len(servers)
	if appender == follower {
		appender = (appender + 1) % len(servers)
	}
	al := mustOpen(t, connectTo(t, urlsFrom(servers, appender)), cfg)

	const total = 300
	var shutdownAt time.Time
	failed := 0
	var writable time.Time // when the first append after the shutdown was acknowledged
	var firstAfter uint64  // its offset
	for i := range total {
		if i == total/3 {
			shutdownAt = time.Now()
			servers[victim].Shutdown()
		}
		for {
			evs, err := al.Append(ctx, []broker.Entry{entry("r", fmt.Sprint("k", i))}) // keyed, as rtbroker publishes
			if err == nil {
				if i == total/3 {
					writable, firstAfter = time.Now(), evs[0].Offset
				}
				break
			}
			if failed++; failed == 1 {
				t.Logf("append %d: %v (retrying)", i, err)
			}
			if ctx.Err() != nil {
				t.Fatalf("append %d: %v (%d failed appends)", i, err, failed)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	last, err := al.LastOffset(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for f.last() < last && time.Since(writable) < caughtUpWithin {
		time.Sleep(20 * time.Millisecond)
	}
	f.mu.Lock()
	for i, o := range f.offs {
		if o == firstAfter {
			t.Logf("offset %d, the first appended after the shutdown (%s after it), delivered at position %d", o, writable.Sub(shutdownAt).Round(time.Millisecond), i)
		}
	}
	for _, e := range f.errs {
		t.Logf("Follow returned: %v", e)
	}
	f.mu.Unlock()
	t.Logf("follower at %d of %d, %s after the stream was writable again", f.last(), last, time.Since(writable).Round(time.Millisecond))
	if f.last() < last {
		t.Fatalf("the follower stalled at %d of %d for %s after the stream was writable again", f.last(), last, caughtUpWithin)
	}
	f.check(t, last)
}

// TestFollowKeepsItsGoroutines: a Follow that delivers a thousand
// batches holds as many goroutines at the end as after the first batch
// (each call of the consume context's Closed starts one that lasts until
// Follow ends: Follow must not call it per batch).
func TestFollowKeepsItsGoroutines(t *testing.T) {
	s := startServer(t)
	l := mustOpen(t, connect(t, s), jetstream.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	var f followed
	var wg sync.WaitGroup
	wg.Go(func() { f.run(ctx, l) })
	defer func() { cancel(); wg.Wait() }()
	wait := func(n uint64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for f.last() < n {
			if time.Now().After(deadline) {
				t.Fatalf("follower at %d of %d", f.last(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if _, err := l.Append(ctx, []broker.Entry{entry("r", "")}); err != nil {
		t.Fatal(err)
	}
	wait(1)
	before := runtime.NumGoroutine()
	const batches = 1000
	for i := range batches {
		if _, err := l.Append(ctx, []broker.Entry{entry("r", "")}); err != nil {
			t.Fatal(err)
		}
		wait(uint64(i + 2)) // one delivery per append
	}
	if after := runtime.NumGoroutine(); after > before+batches/10 {
		t.Fatalf("goroutines: %d after the first batch, %d after %d more", before, after, batches)
	}
	f.check(t, batches+1)
}

// TestTrimSeenWhenTheWatchStalls: a follower's watch of the trim
// watermarks goes silent (a fault injected: what it does when the server
// holding it dies, until nats.go misses two heartbeats, 10 s, and
// recreates it), and another node trims a room. The watchdog ends the
// Follow (broker.ErrStalled) and the Follow started again learns the
// watermark: the follower's Reads report the trim within the watchdog's
// bound. Without the watchdog they never do while the watch is silent.
func TestTrimSeenWhenTheWatchStalls(t *testing.T) {
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fl := mustOpen(t, connect(t, s), jetstream.Config{})
	var silenced atomic.Bool
	fl.SetSilenceMarks(func() bool { return !silenced.Swap(true) }) // the first Follow's watch only
	var f followed
	fctx, fstop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { f.run(fctx, fl) })
	defer func() { fstop(); wg.Wait() }()

	al := mustOpen(t, connect(t, s), jetstream.Config{})
	const total = 5
	for i := range total {
		if _, err := al.Append(ctx, []broker.Entry{entry("t", "")}); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	for f.last() < total {
		if ctx.Err() != nil {
			t.Fatalf("the follower got to %d of %d", f.last(), total)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n, err := al.Trim(ctx, broker.Retention{MaxCount: 2}, time.Now()); err != nil || n != total-2 {
		t.Fatalf("trim: %d, %v", n, err)
	}
	trimmedAt := time.Now()
	for {
		res, err := fl.Read(ctx, []string{"t"}, 0, 10)
		if err == nil && res.Trimmed == total-2 {
			t.Logf("the follower reports the trim %s after it was made", time.Since(trimmedAt).Round(time.Millisecond))
			break
		}
		if time.Since(trimmedAt) > caughtUpWithin {
			t.Fatalf("%s after the trim the follower reads %+v, %v: it never learned the watermark %d", caughtUpWithin, res, err, total-2)
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errs) == 0 || !errors.Is(f.errs[0], broker.ErrStalled) {
		t.Errorf("Follow returned %v, want an error wrapping broker.ErrStalled first", f.errs)
	}
}
