package bolt

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
)

// stateOpener is opener for the State conformance suite.
func stateOpener(opts Options) func(t *testing.T) func() brokertest.ClosableState {
	return checkedOpener(opts, func(l *Log) brokertest.ClosableState { return l })
}

func TestState(t *testing.T) {
	brokertest.TestState(t, stateOpener(Options{}))
}

// TestStateSmallBatches runs the suite with Expire committing every two
// deletions and an indexer that runs all the time.
func TestStateSmallBatches(t *testing.T) {
	brokertest.TestState(t, stateOpener(Options{TrimBatch: 2, IndexBatch: 3, IndexInterval: time.Millisecond}))
}

// TestStatePageFill checks how full the state pages end up. Records
// keyed in time order, each rewritten larger soon after (as a session
// record is when its socket joins a room), fill their pages nearly;
// bbolt's even split left them half empty. Keys written anywhere keep
// the even split, which a nearly full split would leave a third full.
func TestStatePageFill(t *testing.T) {
	fill := func(t *testing.T, key func(i int) string) (state, stime float64) {
		l, err := Open(filepath.Join(t.TempDir(), "rtbroker.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ctx := context.Background()
		exp := time.Now().Add(time.Hour)
		small, large := bytes.Repeat([]byte("x"), 150), bytes.Repeat([]byte("y"), 240)
		const n, batch = 6000, 10
		for i := 0; i < n; i += batch {
			var recs []broker.Record
			for j := i; j < i+batch; j++ {
				recs = append(recs, broker.Record{Key: key(j), Value: small, Expires: exp.Add(time.Duration(j) * time.Millisecond)})
				if j >= batch { // the one written a batch before grows
					recs = append(recs, broker.Record{Key: key(j - batch), Value: large, Expires: exp.Add(time.Duration(j) * time.Millisecond)})
				}
			}
			if err := l.Put(ctx, recs); err != nil {
				t.Fatal(err)
			}
		}
		err = l.db.View(func(tx *bbolt.Tx) error {
			use := func(name []byte) float64 {
				s := tx.Bucket(name).Stats()
				return float64(s.LeafInuse) / float64(s.LeafPageN*l.db.Info().PageSize)
			}
			state, stime = use(bucketState), use(bucketStateTime)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("pages %.2f (state) and %.2f (expiry index) full", state, stime)
		return state, stime
	}
	t.Run("time order", func(t *testing.T) {
		state, stime := fill(t, func(i int) string { return fmt.Sprintf("sio/session/%08d%x", i, i*7919%251) })
		if state < 0.8 || stime < 0.85 {
			t.Errorf("pages %.2f (state) and %.2f (expiry index) full, want ≥ 0.8 and ≥ 0.85", state, stime)
		}
	})
	t.Run("anywhere", func(t *testing.T) {
		state, _ := fill(t, func(i int) string { return fmt.Sprintf("rcpt/%08x", uint32(i)*2654435761) })
		if state < 0.5 {
			t.Errorf("pages %.2f full, want ≥ 0.5 (bbolt's even split)", state)
		}
	})
}

func TestRunEnd(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "rtbroker.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var recs []broker.Record
	for _, k := range []string{"a/1", "sio/session/0001", "sio/session/0009", "typing/x"} {
		recs = append(recs, broker.Record{Key: k, Value: []byte("v")})
	}
	if err := l.Put(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if err := l.checkpoint(nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key  string
		want bool
	}{
		{"sio/session/0010", true},  // after the last session, before typing/
		{"sio/session/0005", false}, // between two sessions
		{"b/1", false},              // shares nothing with either neighbour
		{"typing/y", true},          // after the bucket's last key
		{"a/0", false},              // before the bucket's first key
	}
	err = l.db.View(func(tx *bbolt.Tx) error {
		cur := tx.Bucket(bucketState).Cursor()
		for _, tc := range tests {
			next, _ := cur.Seek([]byte(tc.key))
			if got := runEnd([]byte(tc.key), next, cur); got != tc.want {
				t.Errorf("runEnd(%q) = %v, want %v", tc.key, got, tc.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
