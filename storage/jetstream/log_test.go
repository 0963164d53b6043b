package jetstream_test

import (
	"context"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
	"github.com/rtbroker/rtbroker/storage/jetstream"
)

// openLog returns the conformance suites' opener: a fresh server per
// subtest, a new connection and Log per call.
func openLog(cfg jetstream.Config) func(t *testing.T) func() broker.Log {
	return func(t *testing.T) func() broker.Log {
		s := startServer(t)
		return func() broker.Log {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			l, err := jetstream.Open(ctx, connect(t, s), cfg)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return l
		}
	}
}

func TestLogConformance(t *testing.T) {
	// The suite forgets idempotency keys on a clock of its own (Trim's
	// now), which JetStream's de-duplication window does not follow: it
	// runs without Nats-Msg-Id, on the meta bucket's records alone.
	brokertest.TestLog(t, openLog(jetstream.Config{Duplicates: -1}))
}

func TestCursorConformance(t *testing.T) {
	brokertest.TestCursor(t, openLog(jetstream.Config{Duplicates: -1}))
}
