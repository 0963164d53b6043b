package bolt

import (
	"testing"
	"time"

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
