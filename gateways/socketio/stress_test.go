package socketio_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
)

// TestStressRecovery runs 500 socket.io-client connections in 4 Node
// processes, in 10 rooms, while publishers run and connections are
// dropped at random; every socket must end with every event of its room
// exactly once, in order.
func TestStressRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test")
	}
	node, _ := needNode(t)
	srv := startGateway(t, nil, "")
	const procs, perProc, rooms, perRoom, drops = 4, 125, 10, 100, 60
	seed := rand.Uint64()
	t.Logf("seed %d", seed)

	type sockResult struct {
		Room      string  `json:"room"`
		Offsets   []int64 `json:"offsets"`
		Recovered int     `json:"recovered"`
		Rejoined  int     `json:"rejoined"`
	}
	type procResult struct {
		Sockets       []sockResult `json:"sockets"`
		ConnectErrors int          `json:"connectErrors"`
	}
	results := make([]procResult, procs)
	ready := make(chan struct{}, procs)
	var wg sync.WaitGroup
	for p := range procs {
		cmd := exec.Command(node, "testdata/stress.mjs", srv.URL, fmt.Sprint(perProc), fmt.Sprint(rooms), fmt.Sprint(seed+uint64(p)), fmt.Sprint(drops/procs))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer cmd.Wait()
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 1<<20), 64<<20)
			for sc.Scan() {
				var line struct {
					Ready   bool             `json:"ready"`
					Sockets *json.RawMessage `json:"sockets"`
				}
				json.Unmarshal(sc.Bytes(), &line)
				switch {
				case line.Ready:
					ready <- struct{}{}
				case line.Sockets != nil:
					if err := json.Unmarshal(sc.Bytes(), &results[p]); err != nil {
						t.Errorf("process %d: %v", p, err)
					}
				default:
					t.Logf("process %d: %s", p, sc.Text())
				}
			}
		})
		t.Cleanup(func() { cmd.Process.Kill() })
	}
	for range procs {
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			t.Fatal("node processes did not start")
		}
	}
	var pubs sync.WaitGroup
	for r := range rooms {
		pubs.Go(func() {
			for i := range perRoom {
				data, _ := json.Marshal(map[string]int{"i": i})
				if _, err := srv.b.Publish(context.Background(), broker.Message{Room: fmt.Sprintf("stress-%d", r), Type: "stress:msg", Data: data}); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
			}
		})
	}
	pubs.Wait()
	for r := range rooms {
		srv.publish(fmt.Sprintf("stress-%d", r), "stress:end", nil)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(120 * time.Second):
		t.Fatal("sockets did not all finish")
	}

	want := map[string][]int64{}
	for r := range rooms {
		room := fmt.Sprintf("stress-%d", r)
		res, err := srv.b.History(context.Background(), room, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range res.Events {
			if ev.Type == "stress:msg" {
				want[room] = append(want[room], int64(ev.Offset))
			}
		}
	}
	var recovered, rejoined, sockets int
	for p, pr := range results {
		if len(pr.Sockets) != perProc {
			t.Fatalf("process %d reported %d sockets, want %d", p, len(pr.Sockets), perProc)
		}
		for i, s := range pr.Sockets {
			sockets++
			recovered += s.Recovered
			rejoined += s.Rejoined
			if !slices.Equal(s.Offsets, want[s.Room]) {
				t.Fatalf("process %d socket %d (%s, %d recoveries, %d re-joins): got %d events, want %d\n%s",
					p, i, s.Room, s.Recovered, s.Rejoined, len(s.Offsets), len(want[s.Room]), diffOffsets(s.Offsets, want[s.Room]))
			}
		}
	}
	t.Logf("%d sockets, each got all %d events of its room exactly once; %d reconnects recovered, %d re-joined", sockets, perRoom, recovered, rejoined)
}

// diffOffsets says what got lacks, repeats or has out of order against want.
func diffOffsets(got, want []int64) string {
	seen := map[int64]int{}
	for _, o := range got {
		seen[o]++
	}
	var missing, dup, neg []int64
	for _, o := range want {
		if seen[o] == 0 {
			missing = append(missing, o)
		}
	}
	for o, n := range seen {
		if o < 0 {
			neg = append(neg, -o)
		} else if n > 1 {
			dup = append(dup, o)
		}
	}
	return fmt.Sprintf("missing %v, repeated %v, repeated or out of order %v\ngot %v", missing, dup, neg, got)
}
