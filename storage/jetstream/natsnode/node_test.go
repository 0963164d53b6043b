package natsnode_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/storage/jetstream/natsnode"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestStartStandalone: a standalone node with no client port serves
// JetStream over an in-process connection.
func TestStartStandalone(t *testing.T) {
	n, err := natsnode.Start(context.Background(), natsnode.Config{StoreDir: t.TempDir(), StartTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	if n.ClientURL() != "" || n.Clustered() {
		t.Errorf("ClientURL %q, Clustered %v: want none, false", n.ClientURL(), n.Clustered())
	}
	nc, err := n.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Request("$JS.API.INFO", nil, 5*time.Second); err != nil {
		t.Fatalf("JetStream over the in-process connection: %v", err)
	}
}

// TestStartCluster: three nodes started at once elect a meta leader;
// each Start returns once it knows it.
func TestStartCluster(t *testing.T) {
	// Every port chosen before any node starts, and all distinct: a port
	// freePort returned is free until someone binds it, and a node's
	// client port picked while another node had not yet bound its cluster
	// port could be that port.
	var peers, clients []string
	used := map[int]bool{}
	for len(used) < 6 {
		if p := freePort(t); !used[p] {
			used[p] = true
			if len(peers) < 3 {
				peers = append(peers, fmt.Sprintf("nats://127.0.0.1:%d", p))
			} else {
				clients = append(clients, fmt.Sprintf("127.0.0.1:%d", p))
			}
		}
	}
	type res struct {
		n   *natsnode.Node
		err error
	}
	ch := make(chan res, 3)
	for i := range 3 {
		go func() {
			n, err := natsnode.Start(context.Background(), natsnode.Config{
				Name: fmt.Sprintf("n%d", i), StoreDir: t.TempDir(), ClusterListen: strings.TrimPrefix(peers[i], "nats://"),
				ClientListen: clients[i], Peers: peers, StartTimeout: time.Minute,
			})
			ch <- res{n, err}
		}()
	}
	for range 3 {
		r := <-ch
		if r.err != nil {
			t.Error(r.err)
			continue
		}
		defer r.n.Shutdown()
		if !r.n.Clustered() || !strings.HasPrefix(r.n.ClientURL(), "nats://127.0.0.1:") {
			t.Errorf("node %s: Clustered %v, ClientURL %q", r.n.Name(), r.n.Clustered(), r.n.ClientURL())
		}
	}
}

// TestStartFailures: Start fails within its timeout, with an error that
// says what to do, when no majority of the peers comes up, and at once
// when a port is taken.
func TestStartFailures(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	self := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	peers := []string{self, fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	for _, tc := range []struct {
		name    string
		cfg     natsnode.Config
		wantErr string
		within  time.Duration
	}{
		{name: "no majority", cfg: natsnode.Config{ClusterListen: self, Peers: peers, StartTimeout: 2 * time.Second},
			wantErr: "a majority of the cluster's nodes", within: 20 * time.Second},
		{name: "client port taken", cfg: natsnode.Config{ClientListen: taken.Addr().String(), StartTimeout: time.Minute},
			wantErr: "address already in use", within: 20 * time.Second},
		{name: "no peers", cfg: natsnode.Config{ClusterListen: self}, wantErr: "peers"},
		{name: "bad peer", cfg: natsnode.Config{ClusterListen: self, Peers: []string{"nats://nohost"}}, wantErr: "want nats://host:port"},
		{name: "random cluster port", cfg: natsnode.Config{ClusterListen: "127.0.0.1:0", Peers: peers}, wantErr: "fixed port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.StoreDir = t.TempDir()
			start := time.Now()
			n, err := natsnode.Start(context.Background(), tc.cfg)
			if err == nil {
				n.Shutdown()
				t.Fatalf("Start succeeded, want an error mentioning %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Start = %v, want it to mention %q", err, tc.wantErr)
			}
			if tc.within > 0 && time.Since(start) > tc.within {
				t.Errorf("Start failed after %s", time.Since(start))
			}
		})
	}
}
