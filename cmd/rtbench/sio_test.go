package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testClient is a client of a fleet that is never started.
func testClient(fromZero bool) *client {
	f := &fleet{
		spec: fleetSpec{FromZero: fromZero, Latency: true},
		lat:  NewRecorder(1), connect: NewRecorder(1), replay: NewRecorder(1),
	}
	return &client{f: f, room: "lobby"}
}

// TestSIOSession drives the Socket.IO client through a connection, a join,
// events (a repeat among them) and a recovery, checking what it sends.
func TestSIOSession(t *testing.T) {
	c := testClient(true)
	var sent []string
	s := sioSession{c: c, send: func(p []byte) error { sent = append(sent, string(p)); return nil }}
	step := func(in string, want ...string) {
		t.Helper()
		sent = nil
		if err := s.handle([]byte(in)); err != nil {
			t.Fatalf("handle(%q): %v", in, err)
		}
		if strings.Join(sent, "|") != strings.Join(want, "|") {
			t.Fatalf("handle(%q) sent %q, want %q", in, sent, want)
		}
	}
	s.reset()
	step(`0{"sid":"e1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`, "40")
	step(`40{"sid":"s1","pid":"p1"}`, `421["room:join",{"room":"lobby","after":0}]`)
	if s.state != waitJoin {
		t.Fatalf("state %d after CONNECT", s.state)
	}
	step(`431[{"ok":true,"room":"lobby","head":0}]`)
	if s.state != sioLive {
		t.Fatalf("state %d after the join ack", s.state)
	}
	step("2", "3")
	now := time.Now().UnixNano()
	step(`42["bench",{"p":"x","t":` + itoa(now) + `},{"room":"lobby","offset":5,"id":"a","time":"t","from":"f"},"5"]`)
	step(`42["bench",{"p":"x","t":` + itoa(now) + `},{"room":"lobby","offset":5,"id":"a","time":"t","from":"f"},"5"]`)
	step(`42["bench",{"p":"x","t":` + itoa(now) + `},{"room":"lobby","offset":8,"id":"b","time":"t","from":"f"},"8"]`)
	step(`42["typing",{"user":"ada"},{"room":"lobby","ephemeral":true}]`)
	if c.received.Load() != 2 || c.dup.Load() != 1 || c.last != 8 || string(s.token) != "8" {
		t.Fatalf("received %d dup %d last %d token %q", c.received.Load(), c.dup.Load(), c.last, s.token)
	}
	if c.f.lat.Snapshot().Count() != 2 {
		t.Fatal("latency not recorded")
	}

	// Reconnect: CONNECT carries pid and offset; the same pid back means
	// recovered (no join).
	s.reset()
	step(`0{"sid":"e2"}`, `40{"pid":"p1","offset":"8"}`)
	step(`40{"sid":"s1","pid":"p1"}`)
	if s.state != sioLive || c.f.unrecovered.Load() != 0 {
		t.Fatalf("state %d unrecovered %d after a recovered CONNECT", s.state, c.f.unrecovered.Load())
	}
	// Another pid: not recovered, re-join after the last offset.
	s.reset()
	step(`0{"sid":"e3"}`, `40{"pid":"p1","offset":"8"}`)
	step(`40{"sid":"s2","pid":"p2"}`, `422["room:join",{"room":"lobby","after":8}]`)
	if c.f.unrecovered.Load() != 1 {
		t.Fatal("refused recovery not counted")
	}

	for _, bad := range []string{`44{"message":"unauthorized"}`, `41`, `1`} {
		if err := s.handle([]byte(bad)); err == nil {
			t.Errorf("handle(%q) did not fail", bad)
		}
	}
	s.state = waitJoin
	if err := s.handle([]byte(`433[{"ok":false,"error":{"code":"forbidden"}}]`)); err != nil {
		t.Fatal("an ack of another id failed the session")
	}
	s.seq = 3
	if err := s.handle([]byte(`433[{"ok":false,"error":{"code":"forbidden"}}]`)); err == nil {
		t.Fatal("a refused join did not fail the session")
	}
}

// TestSIOSessionNode checks the join the Node peer gets (no after).
func TestSIOSessionNode(t *testing.T) {
	c := testClient(false)
	var sent []string
	s := sioSession{c: c, send: func(p []byte) error { sent = append(sent, string(p)); return nil }}
	s.reset()
	for _, in := range []string{`0{"sid":"e"}`, `40{"sid":"s","pid":"p"}`} {
		if err := s.handle([]byte(in)); err != nil {
			t.Fatal(err)
		}
	}
	if got := sent[len(sent)-1]; got != `421["room:join",{"room":"lobby"}]` {
		t.Fatalf("join %q", got)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func TestAppendPayload(t *testing.T) {
	for _, size := range []int{0, 10, 40, 128, 1024} {
		p := appendPayload(nil, 1700000000123456789, size)
		if size >= 40 && len(p) != size {
			t.Errorf("size %d: %d bytes %s", size, len(p), p)
		}
		if ts, ok := intAfter(p, keyT); !ok || ts != 1700000000123456789 {
			t.Errorf("size %d: t = %d in %s", size, ts, p)
		}
	}
}

// TestHTTPConn reads chunked and sized responses, keep-alive, from a real
// server.
func TestHTTPConn(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sized":
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		case "/chunked":
			for i := range 3 {
				io.WriteString(w, strings.Repeat(string(rune('a'+i)), 3000))
				w.(http.Flusher).Flush()
			}
		case "/post":
			b, _ := io.ReadAll(r.Body)
			w.WriteHeader(201)
			w.Write(b)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	hc, err := dialHTTP(t.Context(), newDialer(net.IPv4(127, 0, 0, 1), time.Second), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer hc.close()
	for range 2 {
		hc.startRequest("GET", "/sized", addr)
		st, body, err := hc.roundTrip(nil)
		if err != nil || st != 200 || string(body) != "hello" {
			t.Fatalf("sized: %d %q %v", st, body, err)
		}
		hc.startRequest("GET", "/chunked", addr)
		st, body, err = hc.roundTrip(nil)
		want := strings.Repeat("a", 3000) + strings.Repeat("b", 3000) + strings.Repeat("c", 3000)
		if err != nil || st != 200 || string(body) != want {
			t.Fatalf("chunked: %d %d bytes %v", st, len(body), err)
		}
		hc.startRequest("POST", "/post", addr)
		hc.header("Content-Type", "text/plain")
		st, body, err = hc.roundTrip([]byte("4hi"))
		if err != nil || st != 201 || string(body) != "4hi" {
			t.Fatalf("post: %d %q %v", st, body, err)
		}
	}
}

func TestChunkedReader(t *testing.T) {
	var sb strings.Builder
	cw := httputil.NewChunkedWriter(&sb)
	io.WriteString(cw, "id: 1\n")
	io.WriteString(cw, "data: x\n\n")
	cw.Close()
	sb.WriteString("\r\n") // end of trailer
	cr := &chunkedReader{br: bufio.NewReader(strings.NewReader(sb.String()))}
	b, err := io.ReadAll(cr)
	if err != nil || string(b) != "id: 1\ndata: x\n\n" {
		t.Fatalf("%q %v", b, err)
	}
	bad := &chunkedReader{br: bufio.NewReader(strings.NewReader("zz\r\nabc"))}
	if _, err := io.ReadAll(bad); err == nil {
		t.Fatal("a malformed chunk size was accepted")
	}
}

// serverFrame is an unmasked frame, as servers send.
func serverFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, byte(n))
	case n < 1<<16:
		f = append(f, 126, byte(n>>8), byte(n))
	default:
		f = append(f, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(f, payload...)
}

// TestWSReader feeds a stream of frames in every chunking: messages
// small and large (16- and 64-bit lengths), fragmented, with a ping in
// the middle of a fragmented message, and an empty one.
func TestWSReader(t *testing.T) {
	big := []byte(strings.Repeat("b", 70_000))
	mid := []byte(strings.Repeat("m", 300))
	var stream []byte
	stream = append(stream, serverFrame(true, wsText, []byte("42[\"a\"]"))...)
	stream = append(stream, serverFrame(true, wsText, mid)...)
	stream = append(stream, serverFrame(false, wsText, []byte("frag1-"))...)
	stream = append(stream, serverFrame(true, wsPing, []byte("hi"))...)
	stream = append(stream, serverFrame(true, wsCont, []byte("frag2"))...)
	stream = append(stream, serverFrame(true, wsBin, big)...)
	stream = append(stream, serverFrame(true, wsText, nil)...)
	stream = append(stream, serverFrame(true, wsClose, []byte{3, 232})...)
	want := []string{"msg 1 42[\"a\"]", "msg 1 " + string(mid), "ctl 9 hi", "msg 1 frag1-frag2", "msg 2 " + string(big), "msg 1 ", "ctl 8 \x03\xe8"}
	for _, chunk := range []int{1, 2, 3, 7, 100, 4096, len(stream)} {
		var got []string
		var r wsReader
		onMsg := func(op byte, m []byte) error { got = append(got, fmt.Sprintf("msg %d %s", op, m)); return nil }
		onCtl := func(op byte, m []byte) error { got = append(got, fmt.Sprintf("ctl %d %s", op, m)); return nil }
		for p := stream; len(p) > 0; {
			n := min(chunk, len(p))
			if err := r.feed(p[:n], onMsg, onCtl); err != nil {
				t.Fatalf("chunk %d: %v", chunk, err)
			}
			p = p[n:]
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("chunk %d: got %d items %.200q", chunk, len(got), got)
		}
	}
	bad := map[string][]byte{
		"masked":             {0x81, 0x81, 1, 2, 3, 4, 'x'},
		"reserved bits":      {0xC1, 0},
		"continuation first": {0x80, 0},
		"long ping":          append([]byte{0x89, 126, 0, 200}, make([]byte, 200)...),
		"unknown opcode":     {0x83, 0},
	}
	for name, b := range bad {
		var r wsReader
		if err := r.feed(b, func(byte, []byte) error { return nil }, func(byte, []byte) error { return nil }); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestAppendWSFrame checks the client frames unmask to their payload.
func TestAppendWSFrame(t *testing.T) {
	for _, n := range []int{0, 5, 125, 126, 65535, 65536} {
		p := []byte(strings.Repeat("z", n))
		f := appendWSFrame(nil, wsText, p)
		hl := 2 + map[bool]int{true: 2, false: 0}[n >= 126 && n < 65536] + map[bool]int{true: 8, false: 0}[n >= 65536]
		if f[0] != 0x81 || f[1]&0x80 == 0 || len(f) != hl+4+n {
			t.Fatalf("n=%d: header % x, len %d", n, f[:hl], len(f))
		}
		mask := f[hl : hl+4]
		for i := range n {
			if f[hl+4+i]^mask[i&3] != 'z' {
				t.Fatalf("n=%d: byte %d does not unmask", n, i)
			}
		}
	}
}
