package socketio_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
	"github.com/rtbroker/rtbroker/gateways/presence"
	"github.com/rtbroker/rtbroker/gateways/socketio"
	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
	"github.com/rtbroker/rtbroker/gateways/socketio/protocol"
)

// BenchmarkIdlePollingSession measures what an idle Socket.IO session on
// the polling transport costs the process (heap and stacks, with and
// without a forced collection, server side plus a bare net.Conn per
// client; heap-B/conn: the live heap after a collection) and the
// goroutines per session: each client opens a session,
// connects to the main namespace, joins a room (acked), then holds a GET.
// Its other requests are made without keep-alive, so the figure is the
// session's and its held GET's, not an idle keep-alive connection's. n is
// RTBROKER_IDLE_POLLS (default 2000; spread over 127.0.0.2…, at most
// 2,000 per address). The posts-keepalive run also keeps each client's
// POST connection open and idle (a browser's second connection); the
// client side of it is a bare net.Conn and a 16-byte bufio.Reader.
//
//	go test -run '^$' -bench BenchmarkIdlePollingSession -benchtime 1x ./gateways/socketio
func BenchmarkIdlePollingSession(b *testing.B) {
	n := 2000
	if s := os.Getenv("RTBROKER_IDLE_POLLS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		n = v
	}
	b.Run("posts-closed", func(b *testing.B) { idlePollingSessions(b, n, false, false) })
	b.Run("posts-keepalive", func(b *testing.B) { idlePollingSessions(b, n, true, false) })
	b.Run("posts-keepalive-requeue", func(b *testing.B) { idlePollingSessions(b, n, true, true) })
}

// idlePollingSessions is one run of BenchmarkIdlePollingSession; with
// keepAlive each client also keeps the connection of its last POST open
// and idle, as a browser does between POSTs.
//
// With requeue the server is set up as the command sets it up: the
// engine's Listener, and idle POST connections wait in the engine's
// poller (engineio.Config.Requeue).
func idlePollingSessions(b *testing.B, n int, keepAlive, requeue bool) {
	sidRE := regexp.MustCompile(`"sid":"([^"]+)"`)
	for b.Loop() {
		var gw *gwServer
		if requeue {
			gw = startGatewayRequeue(b)
		} else {
			gw = startGateway(b, nil, "")
		}
		settle := func(gc bool) (uint64, int) {
			inuse, _, gs := idleMem(gc)
			return inuse, gs
		}
		_, heap0, _ := idleMem(true)
		before, gs0 := settle(true)
		conns := make([]net.Conn, 0, n)
		for i := range n {
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i/2000))}}
			hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: d.DialContext}}
			do := func(method, query, body string) string {
				req, _ := http.NewRequest(method, gw.URL+"/socket.io/?EIO=4&transport=polling"+query, strings.NewReader(body))
				resp, err := hc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				defer resp.Body.Close()
				out, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 {
					b.Fatalf("%s %s: %d %s", method, query, resp.StatusCode, out)
				}
				return string(out)
			}
			m := sidRE.FindStringSubmatch(do("GET", "", ""))
			if m == nil {
				b.Fatal("no sid")
			}
			q := "&sid=" + m[1]
			do("POST", q, "40")
			if got := do("GET", q, ""); !strings.HasPrefix(got, "40") {
				b.Fatalf("connect: %q", got)
			}
			do("POST", q, `420["room:join",{"room":"idle"}]`)
			if got := do("GET", q, ""); !strings.HasPrefix(got, "430") {
				b.Fatalf("join: %q", got)
			}
			hc.CloseIdleConnections()
			if keepAlive {
				pc, err := d.Dial("tcp", gw.addr)
				if err != nil {
					b.Fatal(err)
				}
				body := `42["room:join",{"room":"idle"}]`
				if _, err := io.WriteString(pc, "POST /socket.io/?EIO=4&transport=polling"+q+" HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body); err != nil {
					b.Fatal(err)
				}
				resp, err := http.ReadResponse(bufio.NewReaderSize(pc, 16), nil)
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("keep-alive POST: %v %v", resp, err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				conns = append(conns, pc)
			}
			c, err := d.Dial("tcp", gw.addr)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.WriteString(c, "GET /socket.io/?EIO=4&transport=polling"+q+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		noGC, _ := settle(false)
		after, gs1 := settle(true)
		_, heap1, _ := idleMem(true)
		b.ReportMetric((float64(after)-float64(before))/float64(n), "B/conn")
		b.ReportMetric((float64(heap1)-float64(heap0))/float64(n), "heap-B/conn")
		b.ReportMetric((float64(noGC)-float64(before))/float64(n), "B/conn-noGC")
		b.ReportMetric(float64(gs1-gs0)/float64(n), "goroutines/conn")
		for _, c := range conns {
			c.Close()
		}
		gw.stop()
	}
}

// startGatewayRequeue is startGateway served through an engineio.Listener
// whose Requeue the engine uses, with a presence registry, as the command
// does.
func startGatewayRequeue(b *testing.B) *gwServer {
	store := brokertest.NewMemStore()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	rl := engineio.NewListener(ln)
	l := store.Open()
	br := broker.New(l, broker.Config{})
	pres := presence.New(br, presence.Config{})
	b.Cleanup(pres.Close) // after the gateway's stop, as in the command
	g := socketio.New(br, socketio.GatewayConfig{
		Server:     protocol.Config{Engine: engineio.Config{Requeue: rl.Requeue}},
		Namespaces: []socketio.NamespaceConfig{{Name: "/"}},
		Presence:   pres,
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", g)
	s := &gwServer{t: b, store: store, log: l, b: br, g: g, srv: &http.Server{Handler: mux}, done: make(chan struct{}), addr: ln.Addr().String()}
	s.URL = "http://" + s.addr
	go func() { s.srv.Serve(rl); close(s.done) }()
	b.Cleanup(s.stop)
	return s
}
