package protocol

import "testing"

// TestConnectAfterCloseReleases covers a CONNECT whose message is handled
// after the engine connection closed (its close callback ran first): what
// the middleware set up is released through the disconnect handler it
// set, and the socket never counts as connected.
func TestConnectAfterCloseReleases(t *testing.T) {
	srv := NewServer(Config{})
	t.Cleanup(srv.Close)
	var reasons []string
	srv.Of("/").Use(func(s *Socket) error {
		s.OnDisconnect(func(reason string) { reasons = append(reasons, reason) })
		return nil
	})
	connected := 0
	srv.Of("/").OnConnect(func(*Socket) { connected++ })

	c := &client{srv: srv}
	c.OnClose("transport close")
	c.connect(&Packet{Type: PacketConnect, Namespace: "/"})

	if len(reasons) != 1 || reasons[0] != "transport close" {
		t.Errorf("disconnect handler calls %q, want one \"transport close\"", reasons)
	}
	if connected != 0 {
		t.Errorf("connect handler ran %d times", connected)
	}
	nsp := srv.Of("/")
	nsp.mu.Lock()
	n := len(nsp.sockets)
	nsp.mu.Unlock()
	if n != 0 || len(c.sockets) != 0 {
		t.Errorf("%d sockets in the namespace, %d on the client; want none", n, len(c.sockets))
	}
}
