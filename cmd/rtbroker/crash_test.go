package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// crashKey identifies a publish of TestCrashSafety: the data of every event
// embeds it.
type crashKey struct {
	Round  int `json:"round"`
	Client int `json:"client"`
	Seq    int `json:"seq"`
}

// crashData is the ~1 KB data of a TestCrashSafety event.
func crashData(k crashKey, pad string) []byte {
	return fmt.Appendf(nil, `{"round":%d,"client":%d,"seq":%d,"pad":%q}`, k.Round, k.Client, k.Seq, pad)
}

// TestCrashSafety: the real binary takes publishes from 64 concurrent
// keep-alive clients and is killed with SIGKILL at a random moment, five
// times on the same data directory. After each restart the whole log, read
// back over HTTP, must hold every acknowledged event exactly once with the
// offset, id and data it was acknowledged with; every event read back
// before is still there unchanged; the rooms together hold exactly the
// offsets 1..head; and new publishes continue at head+1.
func TestCrashSafety(t *testing.T) {
	const (
		rounds  = 5
		clients = 64
	)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(newSeed(t), 0))
	rooms := []string{"crash-a", "crash-b", "crash-c", "crash-d", "crash-e"}
	pad := strings.Repeat("p", 960)

	acked := map[crashKey]wireEvent{} // every publish answered 201
	seen := map[uint64]wireEvent{}    // every event read back after a restart
	var epoch string
	c := newClient()
	defer c.CloseIdleConnections()

	for round := 0; ; round++ {
		cmd, base := startProcess(t, dir)
		snap := readLog(t, c, base)
		checkCrashLog(t, round, snap, acked, seen)
		if round == 0 {
			epoch = snap.epoch
		} else if snap.epoch != epoch {
			t.Fatalf("round %d: epoch changed from %s to %s on restart", round, epoch, snap.epoch)
		}
		for off, ev := range snap.byOffset {
			seen[off] = ev
		}
		t.Logf("round %d: log holds %d events, %d acknowledged so far", round, snap.head, len(acked))

		// Offsets continue from the head.
		for i := range 5 {
			k := crashKey{round, -1, i}
			ev := mustPublish(t, c, base, rooms[i%len(rooms)], "crash", crashData(k, pad))
			if want := snap.head + 1 + uint64(i); ev.Offset != want {
				t.Fatalf("round %d: publish %d after restart got offset %d, want %d", round, i, ev.Offset, want)
			}
			acked[k] = ev
		}
		if round == rounds {
			return
		}

		// Load, then SIGKILL at a random moment.
		var (
			mu     sync.Mutex
			killed atomic.Bool
			wg     sync.WaitGroup
		)
		for cl := range clients {
			wg.Go(func() {
				hc := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
				defer hc.CloseIdleConnections()
				for seq := 0; !killed.Load(); seq++ {
					k := crashKey{round, cl, seq}
					data := crashData(k, pad)
					r, err := publish(hc, base, rooms[(cl+seq)%len(rooms)], "crash", data)
					if err != nil {
						if !killed.Load() {
							t.Errorf("client %d before the kill: %v", cl, err)
						}
						return
					}
					if r.status != http.StatusCreated || !bytes.Equal(r.ev.Data, data) {
						t.Errorf("client %d: status %d, body %.200s", cl, r.status, r.body)
						return
					}
					mu.Lock()
					acked[k] = r.ev
					mu.Unlock()
				}
			})
		}
		delay := 100*time.Millisecond + time.Duration(rng.Int64N(int64(500*time.Millisecond)))
		time.Sleep(delay)
		killed.Store(true)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		cmd.Wait()
		t.Logf("round %d: killed after %v", round, delay)
		if t.Failed() {
			t.FailNow()
		}
	}
}

// checkCrashLog checks a log read back after a crash against what was
// acknowledged and what was read back before.
func checkCrashLog(t *testing.T, round int, snap logSnapshot, acked map[crashKey]wireEvent, seen map[uint64]wireEvent) {
	t.Helper()
	// No publish is in the log twice.
	where := map[crashKey]uint64{}
	for off := uint64(1); off <= snap.head; off++ {
		ev := snap.byOffset[off]
		var k crashKey
		if err := json.Unmarshal(ev.Data, &k); err != nil {
			t.Fatalf("round %d: event %s has data %.100s: %v", round, ev, ev.Data, err)
		}
		if prev, dup := where[k]; dup {
			t.Fatalf("round %d: publish %+v is in the log twice, at %d and %d", round, k, prev, off)
		}
		where[k] = off
	}
	bad := 0
	report := func(format string, args ...any) {
		if bad++; bad <= 10 {
			t.Errorf("round %d: "+format, append([]any{round}, args...)...)
		}
	}
	for k, a := range acked {
		if got, ok := snap.byOffset[a.Offset]; !ok || !got.same(a) || got.Time != a.Time {
			report("acknowledged %+v as %s, log has %s", k, a, got)
		}
	}
	for off, ev := range seen {
		if got := snap.byOffset[off]; !got.same(ev) {
			report("event %s read back before is now %s", ev, got)
		}
	}
	if bad > 0 {
		t.Fatalf("round %d: %d acknowledged or earlier events lost or changed (of %d acknowledged)", round, bad, len(acked))
	}
}
