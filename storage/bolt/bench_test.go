package bolt

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rtbroker/rtbroker/broker"
)

func benchLog(b *testing.B) *Log {
	b.Helper()
	l, err := Open(filepath.Join(b.TempDir(), "rtbroker.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	return l
}

// benchEntries returns n entries of room with dataSize bytes of JSON data.
func benchEntries(n int, room string, dataSize int) []broker.Entry {
	data := make([]byte, 0, dataSize)
	data = append(data, '"')
	data = append(data, bytes.Repeat([]byte("x"), max(0, dataSize-2))...)
	data = append(data, '"')
	out := make([]broker.Entry, n)
	now := time.Now().UTC()
	for i := range out {
		out[i] = broker.Entry{ID: ulid.Make(), Room: room, Type: "chat:message", Data: data, Time: now, From: "bench"}
	}
	return out
}

// BenchmarkAppend measures committed (fsynced) Appends: one transaction and
// one fsync per call.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name     string
		batch    int
		dataSize int
		rooms    int
	}{
		{"batch=1", 1, 64, 1},
		{"batch=100/data=1KB", 100, 1024, 1},
		{"batch=100/data=1KB/rooms=64", 100, 1024, 64},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := benchLog(b)
			entries := benchEntries(bc.batch, "room", bc.dataSize)
			for i := range entries {
				entries[i].Room = fmt.Sprintf("room-%d", i%bc.rooms)
			}
			ctx := context.Background()
			b.SetBytes(int64(bc.batch * bc.dataSize))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Append(ctx, entries); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*bc.batch)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkRead reads 100,000 events of one room from offset 0 in pages of
// 1,000, as a subscriber catching up from disk does.
func BenchmarkRead(b *testing.B) {
	const total, page = 100_000, 1000
	l := benchLog(b)
	ctx := context.Background()
	for range total / 1000 {
		if _, err := l.Append(ctx, benchEntries(1000, "room", 100)); err != nil {
			b.Fatal(err)
		}
	}
	// Another room interleaved would not change a one-room read: its
	// events live in their own bucket.
	rooms := []string{"room"}
	b.ReportAllocs()
	for b.Loop() {
		var after uint64
		n := 0
		for {
			res, err := l.Read(ctx, rooms, after, page)
			if err != nil {
				b.Fatal(err)
			}
			n += len(res.Events)
			if len(res.Events) == 0 {
				break
			}
			after = res.Through
		}
		if n != total {
			b.Fatalf("read %d events, want %d", n, total)
		}
	}
	b.ReportMetric(float64(b.N*total)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkReplay catches up on 100,000 events of a room from offset 0
// through a broker Subscription (the cursor every gateway uses), with a
// tail too small to help: every event comes from disk.
func BenchmarkReplay(b *testing.B) {
	const total = 100_000
	l := benchLog(b)
	ctx := context.Background()
	for range total / 1000 {
		if _, err := l.Append(ctx, benchEntries(1000, "room", 100)); err != nil {
			b.Fatal(err)
		}
	}
	br := broker.New(l, broker.Config{TailSize: 16})
	defer br.Close()
	b.ReportAllocs()
	for b.Loop() {
		sub, err := br.Subscribe(ctx, []string{"room"}, broker.Position{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for n < total {
			evs, err := sub.Next(ctx, 1000)
			if err != nil {
				b.Fatal(err)
			}
			n += len(evs)
		}
		sub.Close()
	}
	b.ReportMetric(float64(b.N*total)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPublishConcurrent publishes 1 KB events through the broker from
// 128 goroutines onto a bbolt log: group commit shares one transaction and
// one fsync among the publishes waiting at the same time.
func BenchmarkPublishConcurrent(b *testing.B) {
	for _, rooms := range []int{1, 64, 1000} {
		b.Run(fmt.Sprintf("rooms=%d", rooms), func(b *testing.B) {
			br := broker.New(benchLog(b), broker.Config{})
			defer br.Close()
			data := benchEntries(1, "room", 1024)[0].Data
			var n atomic.Int64
			b.SetParallelism(64) // × GOMAXPROCS goroutines
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					room := fmt.Sprintf("room-%d", n.Add(1)%int64(rooms))
					if _, err := br.Publish(context.Background(), broker.Message{Room: room, Type: "bench", Data: data}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			st := br.Stats()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(st.Published)/float64(max(st.Commits, 1)), "events/commit")
		})
	}
}

// BenchmarkIndex measures one index pass over 8,192 unindexed 1 KB events
// (the default IndexBatch) spread over 1 or 64 rooms: the write the
// indexer adds, once per IndexBatch events, to the Appends' own.
func BenchmarkIndex(b *testing.B) {
	for _, rooms := range []int{1, 64, 1000} {
		b.Run(fmt.Sprintf("rooms=%d", rooms), func(b *testing.B) {
			l, err := Open(filepath.Join(b.TempDir(), "rtbroker.db"), Options{IndexBatch: 1 << 30, IndexInterval: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = l.Close() })
			entries := benchEntries(1024, "room", 1024)
			for i := range entries {
				entries[i].Room = fmt.Sprintf("room-%d", i%rooms)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for range DefaultIndexBatch / len(entries) {
					if _, err := l.Append(ctx, entries); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				if err := l.checkpoint(nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*DefaultIndexBatch)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkPutState measures state records committed (fsynced): straight
// into the Log with Put, with 100 events through AppendWith, and through
// the broker's PutState from parallel callers (group commit shares the
// transaction), over a set of 10,000 keys that expire (so the expiry index
// is rewritten with every record), 256 bytes each.
func BenchmarkPutState(b *testing.B) {
	value := bytes.Repeat([]byte("s"), 256)
	all := make([]broker.Record, 10_000)
	for i := range all {
		all[i] = broker.Record{Key: fmt.Sprintf("sio/session/%05d", i), Value: value, Expires: time.Now().Add(time.Hour)}
	}
	// records returns n records from the from'th on (wrapping around).
	records := func(n, from int) []broker.Record {
		from %= len(all)
		if from+n > len(all) {
			from = 0
		}
		return all[from : from+n]
	}
	ctx := context.Background()
	for _, bc := range []struct {
		name   string
		recs   int
		events int
	}{
		{"Put/records=1", 1, 0},
		{"Put/records=100", 100, 0},
		{"AppendWith/events=100/records=100", 100, 100},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := benchLog(b)
			entries := benchEntries(bc.events, "room", 1024)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				recs := records(bc.recs, i)
				i += bc.recs
				var err error
				if bc.events > 0 {
					_, err = l.AppendWith(ctx, entries, recs)
				} else {
					err = l.Put(ctx, recs)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*bc.recs)/b.Elapsed().Seconds(), "records/s")
		})
	}
	b.Run("Broker.PutState/parallel", func(b *testing.B) {
		br := broker.New(benchLog(b), broker.Config{})
		defer br.Close()
		var n atomic.Int64
		b.SetParallelism(64) // × GOMAXPROCS goroutines
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := br.PutState(ctx, records(1, int(n.Add(1)))...); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkAppendManyRooms measures small Appends (2 events of 100 bytes,
// the rooms in turn, one Append per millisecond: 2,000 events/s) over
// 1,000 rooms with the indexer running at its default interval, as the
// many-room benchmark scenario commits: the latency of an Append (p50,
// p99, max), which an index pass stalls. Run it for several seconds
// (-benchtime 5000x) so that intervals pass.
func BenchmarkAppendManyRooms(b *testing.B) {
	const rooms = 1000
	l, err := Open(filepath.Join(b.TempDir(), "rtbroker.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	entries := benchEntries(2*rooms, "room", 100)
	for i := range entries {
		entries[i].Room = fmt.Sprintf("room-%d", i%rooms)
	}
	ctx := context.Background()
	took := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	next := time.Now()
	for i := 0; i < b.N; i++ {
		j := (2 * i) % len(entries)
		time.Sleep(time.Until(next))
		next = next.Add(time.Millisecond)
		start := time.Now()
		if _, err := l.Append(ctx, entries[j:j+2]); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	ms := func(q float64) float64 { return float64(took[int(q*float64(len(took)-1))]) / 1e6 }
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(ms(1), "max-ms")
}
