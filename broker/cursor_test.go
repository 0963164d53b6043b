package broker_test

import (
	"testing"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
)

// TestCursorStress runs brokertest.TestCursor (rooms added and removed at
// random positions while publishers and retention run; no gap, no
// duplicate per room, offset order across rooms) on the in-memory log.
func TestCursorStress(t *testing.T) {
	brokertest.TestCursor(t, func(t *testing.T) func() broker.Log {
		s := brokertest.NewMemStore()
		return func() broker.Log { return s.Open() }
	})
}
