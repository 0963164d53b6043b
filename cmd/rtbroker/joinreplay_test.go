package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtbroker/rtbroker/gateways/socketio/socketiotest"
)

// TestJoinFromReadPositionsStress repeats a reported flow with the real
// socket.io-client: a fresh socket reads me:rooms, then joins 3 rooms with
// after = their read positions (one after another, or all at once;
// polling with upgrade, or WebSocket only; with more events published
// while the joins are in flight or not; emitting before the socket is
// connected or after), and must receive the new events of each room
// exactly once, in order. Two Node processes run the flow at the same time
// for different users, 32 times each (every variant twice).
//
// It found a lost wake-up: a join from an earlier offset puts the room in
// a group of its own behind the socket's other rooms; the read that
// brought it up to them stopped there, short of the batch size, while
// events committed during the join waited above, and the socket's
// delivery task (which reads until a short batch) was not woken again
// until the next commit to those rooms (see Subscription.Next).
func TestJoinFromReadPositionsStress(t *testing.T) {
	node, _ := socketiotest.NeedNode(t)
	srv := startServer(t, "", "--jwt-secret", testSecret, "--publish-rate", "0")
	const runs = 32
	users := []string{"ada", "bob"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for _, user := range users {
		token := mint(t, user, func(c jwt.MapClaims) {
			c["rooms"] = map[string]any{"subscribe": []string{"chat:*"}, "publish": []string{"chat:*"}}
		})
		rooms := []string{"chat:" + user + "-a", "chat:" + user + "-b", "chat:" + user + "-c"}
		cmd := exec.Command(node, append([]string{"testdata/join-replay.mjs", srv.URL, token, fmt.Sprint(runs)}, rooms...)...)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		wg.Go(func() {
			defer cmd.Wait()
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				var line struct {
					Run  int                 `json:"run"`
					Mode string              `json:"mode"`
					Got  [][]json.RawMessage `json:"got"`
					Want map[string][]uint64 `json:"want"`
					Rest json.RawMessage     `json:"acks"`
					Read json.RawMessage     `json:"rooms"`
					Hang bool                `json:"hang"`
				}
				if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
					t.Errorf("%s: %s", user, sc.Text())
					continue
				}
				mu.Lock()
				total++
				mu.Unlock()
				got := map[string][]uint64{}
				for _, g := range line.Got {
					var room string
					var off uint64
					json.Unmarshal(g[0], &room)
					json.Unmarshal(g[1], &off)
					got[room] = append(got[room], off)
				}
				ok := !line.Hang && len(got) == len(line.Want)
				for room, want := range line.Want {
					ok = ok && slices.Equal(got[room], want) // each once, in order
				}
				if !ok {
					t.Errorf("%s run %d (%s): got %v, want %v (hang %v); me:rooms %s; acks %s", user, line.Run, line.Mode, got, line.Want, line.Hang, line.Read, line.Rest)
				}
			}
		})
	}
	wg.Wait()
	if total != runs*len(users) {
		t.Fatalf("%d runs reported, want %d", total, runs*len(users))
	}
}
