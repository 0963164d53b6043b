package jetstream_test

import (
	"context"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker/brokertest"
	"github.com/rtbroker/rtbroker/storage/jetstream"
)

func TestStateConformance(t *testing.T) {
	brokertest.TestState(t, func(t *testing.T) func() brokertest.ClosableState {
		s := startServer(t)
		return func() brokertest.ClosableState {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			st, err := jetstream.OpenState(ctx, connect(t, s), jetstream.StateConfig{})
			if err != nil {
				t.Fatalf("OpenState: %v", err)
			}
			return st
		}
	})
}
