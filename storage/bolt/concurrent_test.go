package bolt

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rtbroker/rtbroker/broker"
)

// readRecord is one Read a follower made, checked after the run.
type readRecord struct {
	rooms []string
	after uint64
	res   broker.ReadResult
}

// TestConcurrentReadersWhileIndexing runs writers, followers (Read from
// their last Through, several rooms merged), ReadBefore and Rooms callers
// while the indexer runs every millisecond in transactions of a few
// events, optionally with a Trim loop. Afterwards a checker compares every
// Read with what was appended: no event missing unless the Read reported
// it trimmed, no duplicate, offsets ascending, contents intact.
func TestConcurrentReadersWhileIndexing(t *testing.T) {
	for _, withTrim := range []bool{false, true} {
		t.Run(fmt.Sprintf("trim=%v", withTrim), func(t *testing.T) {
			testConcurrentReaders(t, withTrim)
		})
	}
}

func testConcurrentReaders(t *testing.T, withTrim bool) {
	l, _ := openTemp(t, Options{IndexBatch: 3, IndexInterval: time.Millisecond, TrimBatch: 2})
	ctx := context.Background()
	const writers, batches = 3, 60
	roomSets := [][]string{{"r0"}, {"r1", "r2"}, {"r0", "r1", "r2", "r3"}, {"r3"}}

	var (
		mu    sync.Mutex
		truth = map[uint64]*broker.Event{}
		reads = make([][]readRecord, len(roomSets))
		done  = make(chan struct{})
		errs  = make(chan error, 16)
		wgW   sync.WaitGroup
		wgR   sync.WaitGroup
	)
	for w := range writers {
		wgW.Go(func() {
			for i := range batches {
				batch := make([]broker.Entry, 1+(w+i)%4)
				for j := range batch {
					batch[j] = broker.Entry{
						ID: ulid.Make(), Room: fmt.Sprintf("r%d", (w*7+i*3+j)%4), Type: "t",
						Data: fmt.Appendf(nil, `[%d,%d,%d]`, w, i, j), Time: time.Now(), From: "w",
					}
				}
				evs, err := l.Append(ctx, batch)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, e := range evs {
					truth[e.Offset] = e
				}
				mu.Unlock()
			}
		})
	}
	for r, rooms := range roomSets {
		wgR.Go(func() {
			var after uint64
			for {
				finished := false
				select {
				case <-done:
					finished = true
				default:
				}
				res, err := l.Read(ctx, rooms, after, 1+2*r)
				if err != nil {
					errs <- err
					return
				}
				reads[r] = append(reads[r], readRecord{rooms: rooms, after: after, res: res})
				if res.Through < after && len(res.Events) > 0 {
					errs <- fmt.Errorf("reader %d: Through went back from %d to %d", r, after, res.Through)
					return
				}
				after = max(after, res.Through)
				if finished && len(res.Events) == 0 {
					return
				}
			}
		})
	}
	wgR.Go(func() { // ReadBefore and Rooms, for the race detector and their own sanity
		for {
			select {
			case <-done:
				return
			default:
			}
			evs, err := l.ReadBefore(ctx, "r1", 0, 5)
			if err != nil {
				errs <- err
				return
			}
			for i := 1; i < len(evs); i++ {
				if evs[i].Offset <= evs[i-1].Offset || evs[i].Room != "r1" {
					errs <- fmt.Errorf("ReadBefore: %v", eventOffsets(evs))
					return
				}
			}
			infos, err := l.Rooms(ctx)
			if err != nil {
				errs <- err
				return
			}
			for _, ri := range infos {
				if ri.Count > 0 && (ri.First == 0 || ri.First > ri.Head || ri.First <= ri.Trimmed) {
					errs <- fmt.Errorf("Rooms: %+v", ri)
					return
				}
			}
		}
	})
	if withTrim {
		wgR.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := l.Trim(ctx, broker.Retention{MaxCount: 5}, time.Now()); err != nil {
					errs <- err
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	wgW.Wait()
	close(done)
	wgR.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := l.check(); err != nil {
		t.Fatal(err)
	}
	for r := range reads {
		checkReads(t, r, reads[r], truth, withTrim)
	}
}

// checkReads checks the Reads of follower r against the appended events.
func checkReads(t *testing.T, r int, reads []readRecord, truth map[uint64]*broker.Event, withTrim bool) {
	t.Helper()
	var got []*broker.Event
	for _, rd := range reads {
		var want []*broker.Event
		for off := rd.after + 1; off <= rd.res.Through; off++ {
			e := truth[off]
			if e == nil {
				t.Fatalf("reader %d: Through %d beyond the appended events (%d missing)", r, rd.res.Through, off)
			}
			for _, room := range rd.rooms {
				if e.Room == room {
					want = append(want, e)
				}
			}
		}
		i := 0
		for _, w := range want {
			if i < len(rd.res.Events) && rd.res.Events[i].Offset == w.Offset {
				if d := sameEvents(rd.res.Events[i:i+1], []*broker.Event{w}); d != "" {
					t.Fatalf("reader %d after %d: %s", r, rd.after, d)
				}
				i++
				continue
			}
			if !withTrim || w.Offset > rd.res.Trimmed {
				t.Fatalf("reader %d: Read(%v, after %d) = %v through %d trimmed %d: offset %d missing",
					r, rd.rooms, rd.after, eventOffsets(rd.res.Events), rd.res.Through, rd.res.Trimmed, w.Offset)
			}
		}
		if i != len(rd.res.Events) {
			t.Fatalf("reader %d: Read(%v, after %d) = %v: unexpected or out-of-order events",
				r, rd.rooms, rd.after, eventOffsets(rd.res.Events))
		}
		got = append(got, rd.res.Events...)
	}
	if withTrim {
		return
	}
	var want []*broker.Event
	for off := uint64(1); truth[off] != nil; off++ {
		for _, room := range reads[0].rooms {
			if truth[off].Room == room {
				want = append(want, truth[off])
			}
		}
	}
	if d := sameEvents(got, want); d != "" {
		t.Fatalf("reader %d: followed %s", r, d)
	}
}
