package rawio

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestGatherRest(t *testing.T) {
	big1 := bytes.Repeat([]byte("B"), 1000)
	big2 := bytes.Repeat([]byte("C"), 700)
	for _, tc := range []struct {
		name   string
		pieces [][]byte
		copy   bool
	}{
		{name: "small only", pieces: [][]byte{[]byte("hdr"), []byte("abc"), []byte("de")}},
		{name: "mixed", pieces: [][]byte{[]byte("h1"), big1, []byte("h2"), big2, []byte("tail")}},
		{name: "large first", pieces: [][]byte{big1, []byte("x"), big2}},
		{name: "copied", pieces: [][]byte{[]byte("h1"), big1, big2}, copy: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g Gather
			var want []byte
			for _, p := range tc.pieces {
				g.Add(p, tc.copy)
				want = append(want, p...)
			}
			if g.Len() != len(want) {
				t.Fatalf("Len = %d, want %d", g.Len(), len(want))
			}
			if got := bytes.Join(g.Buffers(), nil); !bytes.Equal(got, want) {
				t.Fatalf("Buffers = %q, want %q", got, want)
			}
			if tc.copy && len(g.Buffers()) != 1 {
				t.Errorf("copied pieces in %d buffers, want 1", len(g.Buffers()))
			}
			for n := 0; n <= len(want); n++ {
				if got := bytes.Join(g.Rest(n), nil); !bytes.Equal(got, want[n:]) {
					t.Fatalf("Rest(%d) = %q, want %q", n, got, want[n:])
				}
			}
			if g.Rest(len(want)) != nil {
				t.Error("Rest of everything is not nil")
			}
			g.Reset(1 << 10)
			if g.Len() != 0 || len(g.Buffers()) != 0 {
				t.Error("Reset left pieces")
			}
		})
	}
}

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (server *net.TCPConn, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); client.Close() })
	return c.(*net.TCPConn), client
}

// TestWritevDoesNotBlock fills a socket whose peer does not read: Writev
// returns short instead of waiting, and what it reports written is what
// the peer then reads, in order.
func TestWritevDoesNotBlock(t *testing.T) {
	if !Supported {
		t.Skip("no non-blocking writes on this system")
	}
	srv, cli := pair(t)
	rc, err := srv.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	chunk := []byte(strings.Repeat("0123456789abcdef", 4096)) // 64 KiB
	var w Writer
	written := 0
	for range 4096 { // up to 256 MiB: far beyond any socket buffer
		n, err := w.Writev(rc, [][]byte{chunk[:10], chunk[10:]})
		if err != nil {
			t.Fatal(err)
		}
		written += n
		if n < len(chunk) {
			break
		}
	}
	if written%len(chunk) == 0 && written >= 4096*len(chunk) {
		t.Fatal("the socket never filled up")
	}
	got := make([]byte, written)
	cli.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(cli, got); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < written; i += len(chunk) {
		end := min(i+len(chunk), written)
		if !bytes.Equal(got[i:end], chunk[:end-i]) {
			t.Fatalf("bytes %d–%d differ", i, end)
		}
	}
}

func TestPeerClosed(t *testing.T) {
	if !Supported {
		t.Skip("no non-blocking reads on this system")
	}
	srv, cli := pair(t)
	rc, err := srv.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if PeerClosed(rc) {
		t.Fatal("open and idle connection reported closed")
	}
	if _, err := cli.Write([]byte("pending")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if PeerClosed(rc) {
		t.Fatal("connection with data to read reported closed")
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(srv, buf); err != nil || string(buf) != "pending" {
		t.Fatalf("the peek consumed data: %q %v", buf, err)
	}
	cli.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !PeerClosed(rc) {
		if time.Now().After(deadline) {
			t.Fatal("closed peer not seen")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWriteAnswer: a small answer is written whole (nothing left); a large
// one to a peer that does not read comes back as the part the socket did
// not take, which, written after what was, gives the peer the answer
// whole and in order; with no RawConn the whole answer is left.
func TestWriteAnswer(t *testing.T) {
	if !Supported {
		t.Skip("no non-blocking writes on this system")
	}
	server, client := pair(t)
	rc, err := server.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if rest, err := WriteAnswer(rc, []byte("HTTP/1.1 200 OK\r\n\r\n"), []byte("{}")); rest != nil || err != nil {
		t.Fatalf("small answer: rest %d buffers, %v; want all written", len(rest), err)
	}
	head, body := []byte("head:"), bytes.Repeat([]byte("b"), 16<<20)
	rest, err := WriteAnswer(rc, head, body)
	if err != nil || rest == nil {
		t.Fatalf("large answer: rest %v, %v; want a part left", rest != nil, err)
	}
	left := 0
	for _, b := range rest {
		left += len(b)
	}
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(client)
		got <- b
	}()
	if _, err := rest.WriteTo(server); err != nil {
		t.Fatal(err)
	}
	server.Close()
	want := append([]byte("HTTP/1.1 200 OK\r\n\r\n{}"), append(head, body...)...)
	if b := <-got; !bytes.Equal(b, want) || left == 0 || left >= len(head)+len(body) {
		t.Fatalf("peer read %d bytes (want %d, equal %v); %d were left", len(b), len(want), bytes.Equal(b, want), left)
	}
	if rest, err := WriteAnswer(nil, head, []byte("x")); err != nil || len(rest) != 2 {
		t.Fatalf("no RawConn: rest %d buffers, %v; want the whole answer", len(rest), err)
	}
}

func TestPrefixed(t *testing.T) {
	server, client := pair(t)
	c := Prefixed(server, []byte("head"))
	if _, ok := TCP(c); ok {
		t.Fatal("TCP found the socket before the prefix was read")
	}
	client.Write([]byte("+rest"))
	got := make([]byte, 0, 16)
	for len(got) < len("head+rest") {
		b := make([]byte, 3)
		n, err := c.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b[:n]...)
	}
	if string(got) != "head+rest" {
		t.Fatalf("read %q, want %q", got, "head+rest")
	}
	if tc, ok := TCP(c); !ok || tc != server {
		t.Fatalf("TCP after the prefix: %v, %v; want the socket", tc, ok)
	}
}
