package socketio_test

import (
	"testing"

	"github.com/rtbroker/rtbroker/gateways/socketio/socketiotest"
)

// needNode returns the node binary and the repository root that holds
// node_modules (see socketiotest.NeedNode).
func needNode(t testing.TB) (node, root string) {
	t.Helper()
	return socketiotest.NeedNode(t)
}

// driver is a socketiotest.Driver with the short names these tests use.
type driver struct{ *socketiotest.Driver }

func startDriver(t testing.TB) *driver {
	t.Helper()
	return &driver{socketiotest.Start(t)}
}

// try sends a command and returns the reply, whatever ok says.
func (d *driver) try(op string, args map[string]any) map[string]any { return d.Try(op, args) }

// do sends a command and fails the test unless it succeeded.
func (d *driver) do(op string, args map[string]any) map[string]any { return d.Do(op, args) }

// waitEvents waits until socket name has received n events and returns them.
func (d *driver) waitEvents(name string, n int) []receivedEvent { return d.WaitEvents(name, n) }

// receivedEvent is one event a driver socket received.
type receivedEvent = socketiotest.Event
