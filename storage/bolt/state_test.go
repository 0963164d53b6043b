package bolt

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker/brokertest"
)

// stateOpener returns a brokertest state opener for a new file in
// t.TempDir() that checks the file's bookkeeping each time it is opened.
func stateOpener(opts Options) func(t *testing.T) func() brokertest.ClosableState {
	return func(t *testing.T) func() brokertest.ClosableState {
		path := filepath.Join(t.TempDir(), "rtbroker.db")
		return func() brokertest.ClosableState {
			t.Helper()
			l, err := Open(path, opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if err := l.check(); err != nil {
				t.Fatalf("reopened file is inconsistent: %v", err)
			}
			return l
		}
	}
}

func TestState(t *testing.T) {
	brokertest.TestState(t, stateOpener(Options{}))
}

// TestStateSmallBatches runs the suite with Expire committing every two
// deletions and an indexer that runs all the time.
func TestStateSmallBatches(t *testing.T) {
	brokertest.TestState(t, stateOpener(Options{TrimBatch: 2, IndexBatch: 3, IndexInterval: time.Millisecond}))
}
