package netpoll

import (
	"errors"
	"net"
	"testing"
	"time"
)

func TestReadiness(t *testing.T) {
	p, err := New()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("no poller on this system")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rc, err := srv.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{}, 10)
	r, err := p.Add(rc, Func(func() { ready <- struct{}{} }))
	if err != nil {
		t.Fatal(err)
	}
	wait := func(what string) {
		t.Helper()
		select {
		case <-ready:
		case <-time.After(5 * time.Second):
			t.Fatalf("not ready: %s", what)
		}
	}
	quiet := func(what string) {
		t.Helper()
		select {
		case <-ready:
			t.Fatalf("ready: %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
	quiet("nothing sent")
	cli.Write([]byte("a"))
	wait("data")
	cli.Write([]byte("b"))
	quiet("one-shot: not re-armed yet")
	if err := r.Arm(); err != nil {
		t.Fatal(err)
	}
	wait("re-armed with data still unread")
	buf := make([]byte, 8)
	srv.Read(buf)
	if err := r.Arm(); err != nil {
		t.Fatal(err)
	}
	quiet("drained")
	cli.Close()
	wait("peer closed")
	r.Remove()
	r.Remove() // idempotent
	if err := r.Arm(); err != nil {
		t.Fatalf("Arm after Remove: %v", err)
	}
	quiet("removed")
}
