package brokertest_test

import (
	"testing"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
)

func TestMemLog(t *testing.T) {
	brokertest.TestLog(t, func(t *testing.T) func() broker.Log {
		s := brokertest.NewMemStore()
		return func() broker.Log { return s.Open() }
	})
}

func TestMemState(t *testing.T) {
	brokertest.TestState(t, func(t *testing.T) func() brokertest.ClosableState {
		s := brokertest.NewMemStore()
		return func() brokertest.ClosableState { return s.Open() }
	})
}
