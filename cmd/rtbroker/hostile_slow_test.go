package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	be "encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/gateways/socketio/socketiotest"
)

// Slow and partial requests: the hostile-input table of clients that
// declare more than they send (issue 17). Each row holds slowClients
// connections from the hostile address that send the headers of a POST
// and one byte of a 200,000-byte body; while they are held, /healthz
// answers and good clients are served on every transport (REST, SSE,
// Socket.IO over WebSocket and over polling); then each slow request
// gets its answer (408 once --read-timeout has passed, or the refusal it
// earns at once) and its connection is closed.

const slowClients = 8

// slowRow is a slow request and the answer it must get.
type slowRow struct {
	name       string
	path       func(t *testing.T, e *hostileEnv) string // the POST's target (asked for each connection)
	bearer     string
	length     int // declared body length; 200,000 when 0
	n          int // connections held; slowClients when 0
	wantStatus int
	wantCode   string
	wantLast   int // when set, the last connection's status (over the connection cap)
}

func TestHostileSlowBodies(t *testing.T) {
	ada := userToken(t, "ada", nil)
	fixed := func(p string) func(*testing.T, *hostileEnv) string {
		return func(*testing.T, *hostileEnv) string { return p }
	}
	rows := []slowRow{
		{name: "publish", path: fixed("/api/rooms/general/events"), bearer: ada, wantStatus: 408, wantCode: "timeout"},
		{name: "publish without a token (refused without the body)", path: fixed("/api/rooms/general/events"), wantStatus: 401, wantCode: "unauthorized"},
		{name: "publish with an API key", path: fixed("/api/rooms/general/events"), bearer: testAPIKey, wantStatus: 408, wantCode: "timeout"},
		{name: "unknown route", path: fixed("/api/nothing"), bearer: ada, wantStatus: 404, wantCode: "not_found"},
		{name: "admin trim", path: fixed("/api/admin/rooms/general/trim"), bearer: testAPIKey, wantStatus: 408, wantCode: "timeout"},
		{name: "admin trim with a user token (refused without the body)", path: fixed("/api/admin/rooms/general/trim"), bearer: ada, wantStatus: 403, wantCode: "forbidden"},
		{name: "Engine.IO polling POST", path: engineSession(ada), bearer: ada, length: 4000, wantStatus: 408}, // under --sio-max-payload
		{name: "Engine.IO polling POST over --sio-max-payload", path: engineSession(ada), bearer: ada, wantStatus: 413},
		{name: "admin import into a non-empty log (refused without the body)", path: fixed("/api/admin/import"), bearer: testAPIKey, wantStatus: 409, wantCode: "conflict"},
		{name: "admin import with a user token (refused without the body)", path: fixed("/api/admin/import"), bearer: ada, wantStatus: 403, wantCode: "forbidden"},
		{
			name: "more than the connection cap (2 × --max-conns-per-ip)", path: fixed("/api/rooms/general/events"), bearer: ada,
			n: 2*slowClients + 1, wantStatus: 408, wantCode: "timeout", wantLast: 429,
		},
	}
	d := socketiotest.Start(t)
	e := newHostileEnv(t, "slow", "--read-timeout", "1s", "--max-conns-per-ip", fmt.Sprint(slowClients), "--publish-rate", "0")
	e.secrets = []string{ada}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			n := orDefault(row.n, slowClients)
			conns := make([]net.Conn, n)
			for i := range conns {
				conns[i] = slowPost(t, e.srv.URL, row.path(t, e), row.bearer, orDefault(row.length, 200_000))
			}
			stillServed(t, e, d)
			for i, c := range conns {
				want := row.wantStatus
				if row.wantLast != 0 && i == n-1 {
					want = row.wantLast
				}
				status, body, closed := slowAnswer(t, c)
				if status != want || (want == row.wantStatus && row.wantCode != "" && errCode(body) != row.wantCode) || !closed {
					t.Fatalf("slow client %d: %d %s (closed %v), want %d %s and the connection closed", i, status, body, closed, want, row.wantCode)
				}
			}
		})
	}
	e.checkLog(t)
	e.checkQuiet(t) // no ERROR for the aborted bodies
}

// orDefault returns v, or def when v is 0.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

var sidRE = regexp.MustCompile(`"sid":"([^"]+)"`)

// engineSession opens an Engine.IO polling session with tok from the
// hostile address and returns the path of its POSTs.
func engineSession(tok string) func(*testing.T, *hostileEnv) string {
	return func(t *testing.T, e *hostileEnv) string {
		t.Helper()
		status, body, _ := send(t, clientFrom(hostileIP), hreq{method: "GET", url: e.srv.URL + "/socket.io/?EIO=4&transport=polling", cred: cred{bearer: tok}})
		m := sidRE.FindStringSubmatch(body)
		if status != 200 || m == nil {
			t.Fatalf("handshake: %d %s", status, body)
		}
		return "/socket.io/?EIO=4&transport=polling&sid=" + m[1]
	}
}

// slowPost connects from the hostile address and sends a POST to path
// that declares a body of length bytes and sends one byte of it.
func slowPost(t *testing.T, base, path, bearer string, length int) net.Conn {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(hostileIP)}}
	c, err := d.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	auth := ""
	if bearer != "" {
		auth = "Authorization: Bearer " + bearer + "\r\n"
	}
	if _, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", path, host, auth, length); err != nil {
		t.Fatal(err)
	}
	return c
}

// slowAnswer reads the answer of a slow request and whether the server
// then closed the connection.
func slowAnswer(t *testing.T, c net.Conn) (status int, body string, closed bool) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	var ne net.Error
	return resp.StatusCode, string(b), err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// stillServed checks, while slow requests are held, that the server
// answers /healthz and serves a good client over REST, SSE and Socket.IO
// (WebSocket and polling).
func stillServed(t *testing.T, e *hostileEnv, d *socketiotest.Driver) {
	t.Helper()
	c := newClient()
	getHealth(t, c, e.srv.URL)
	sub := e.goodSub()
	tok := userToken(t, sub, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	head := getHealth(t, c, e.srv.URL).Head
	st, err := openSSE(ctx, newStreamClient(), fmt.Sprintf("%s/sse?room=general&after=%d&token=%s", e.srv.URL, head, tok), "")
	if err != nil {
		t.Fatalf("good stream: %v", err)
	}
	defer st.close()
	ev := goodPublish(t, e, tok, sub)
	if got, err := st.nextEvent(); err != nil || got.ID != ev.ID {
		t.Fatalf("good stream got %v, %v; want %s", got, err, ev)
	}
	for _, transport := range []string{"websocket", "polling"} {
		sioStillServes(t, &sioEnv{hostileEnv: e, d: d, transport: transport})
	}
}

// TestHostileFrameHeaders opens WebSocket connections that each send the
// 14-byte header of a 900,000-byte frame and no payload: the server must
// not reserve the declared size (it did: 150 such connections took the
// heap from 2 MB to 146 MB), and must still serve a good client.
func TestHostileFrameHeaders(t *testing.T) {
	const conns, declared = 150, 900_000
	srv := startServer(t, "")
	before := heapAlloc()
	host := strings.TrimPrefix(srv.URL, "http://")
	for range conns {
		c := wsHandshake(t, host)
		var hdr [14]byte
		hdr[0], hdr[1] = 0x81, 0x80|127 // FIN + text; masked, 64-bit length
		be.BigEndian.PutUint64(hdr[2:10], declared)
		rand.Read(hdr[10:14])
		if _, err := c.Write(hdr[:]); err != nil {
			t.Fatal(err)
		}
	}
	// The server reads the headers as they come; give it a moment and keep
	// the largest heap seen.
	peak := before
	for range 20 {
		time.Sleep(50 * time.Millisecond)
		peak = max(peak, heapAlloc())
	}
	grown := int64(peak) - int64(before)
	t.Logf("heap %d KiB before, %d KiB at most with %d frame headers of %d bytes held", before>>10, peak>>10, conns, declared)
	if limit := int64(conns) * 64 << 10; grown > limit {
		t.Fatalf("heap grew by %d KiB for %d frame headers without payload (limit %d KiB)", grown>>10, conns, limit>>10)
	}
	getHealth(t, newClient(), srv.URL)
}

// heapAlloc returns the live heap after a collection.
func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// wsHandshake opens an Engine.IO WebSocket from the hostile address and
// reads the 101 answer and the open packet's frame.
func wsHandshake(t *testing.T, host string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(hostileIP)}}
	c, err := d.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var key [16]byte
	rand.Read(key[:])
	fmt.Fprintf(c, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", host, base64.StdEncoding.EncodeToString(key[:]))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	c.SetReadDeadline(time.Time{})
	return c
}
