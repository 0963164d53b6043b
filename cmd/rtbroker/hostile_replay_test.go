package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/gateways/socketio/socketiotest"
)

// Slow readers of a replay: the hostile-input table of Socket.IO clients
// that join a room from offset 0 while it holds a backlog many times the
// 1 MiB a connection may have queued (README, Limits: "bytes queued for
// one Socket.IO connection" and "a streaming client that does not read"),
// then read it slowly or not at all, over WebSocket and over polling.
// Each row runs on a server of its own whose room replayRoom holds
// replayEvents events (about 14 MiB of Socket.IO packets), published
// over HTTP in batches. The hostile client is rawSIO (a bare Engine.IO
// client, hostile_binary_test.go) from the hostile address; over
// WebSocket its TCP receive buffer is kept small, so that what it has not
// read stays on the server, not in its kernel. While the hostile client
// is there, and after it, good clients are served on every transport
// (stillServed); no connection is closed as a slow client, and the
// server logs no warning, no error and no credential.

const replayRoom = "news:backlog"

// backlog is what replayRoom holds: events {"n": 1…events, "pad": …} of
// type backlog, pad bytes of padding each, published batch at a time.
type backlog struct{ events, pad, batch int }

var (
	// smallEvents: about 14 MiB of Socket.IO packets.
	smallEvents = backlog{events: 10_000, pad: 1200, batch: 1000}
	// largeEvents: 300 events near --max-data-size 64 KiB, 18 MiB; one
	// read batch is far over the write buffer limit.
	largeEvents = backlog{events: 300, pad: 60_000, batch: 50}
)

// replayRow is a hostile reader of the backlog over one transport: it
// reads at pace (see slowReplay), or, when pace is nil, never reads after
// its join (see neverReadsReplay) and is closed for wantReason.
type replayRow struct {
	name       string
	transport  string
	flags      []string // the row's server is started with these flags too
	pace       *pacer
	wantReason string
	backlog    backlog // zero: smallEvents
}

// TestHostileSlowReplay is the table of slow readers of a replay (see the
// top of this file).
func TestHostileSlowReplay(t *testing.T) {
	ada := userToken(t, "ada", nil)
	const stopAt, stop = 2 << 20, 3 * time.Second // well under --write-timeout (10 s)
	rows := []replayRow{
		// Before the server paced catch-up reads by what the connection
		// takes, both slow readers were closed as slow clients at 1 MiB.
		{
			name: "Socket.IO over WebSocket that replays slowly, with a stop", transport: "websocket",
			flags: []string{"--sio-ping-interval", "2s"}, // pings come while it reads, and are answered late
			pace:  &pacer{chunk: 4096, pause: time.Millisecond, stopAt: stopAt, stop: stop},
		},
		{
			name: "Socket.IO over polling that replays slowly, with a stop", transport: "polling",
			flags: []string{"--sio-ping-interval", "2s"},
			pace:  &pacer{pause: 20 * time.Millisecond, stopAt: stopAt, stop: stop},
		},
		// A batch of large events was written at once, past the write
		// buffer limit, even to a client reading at full speed.
		{
			name: "Socket.IO over WebSocket that replays 60 KB events at full speed", transport: "websocket",
			flags: []string{"--max-data-size", "65536", "--max-body-size", "8388608"}, backlog: largeEvents,
			pace: &pacer{chunk: 1 << 20, stopAt: 4 << 20, stop: 100 * time.Millisecond},
		},
		{
			name: "Socket.IO over polling that replays 60 KB events at full speed", transport: "polling",
			flags: []string{"--max-data-size", "65536", "--max-body-size", "8388608"}, backlog: largeEvents,
			pace: &pacer{stopAt: 4 << 20, stop: 100 * time.Millisecond},
		},
		{
			name: "Socket.IO over WebSocket that never reads during replay", transport: "websocket",
			flags:      []string{"--write-timeout", "2s"},
			wantReason: "transport error", // the write waiting for its socket timed out
		},
		{
			name: "Socket.IO over polling that never polls during replay", transport: "polling",
			flags:      []string{"--sio-ping-interval", "1s", "--sio-ping-timeout", "1s"},
			wantReason: "ping timeout",
		},
	}
	d := socketiotest.Start(t)
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			flags := append([]string{"--max-body-size", "4194304", "--max-data-size", "4096", "--log-level", "debug"}, row.flags...)
			e := &sioEnv{hostileEnv: newHostileEnv(t, "replay", flags...), d: d, transport: row.transport}
			e.secrets = []string{ada}
			bl := row.backlog
			if bl.events == 0 {
				bl = smallEvents
			}
			publishBacklog(t, e.srv.URL, bl)
			if row.pace != nil {
				slowReplay(t, e, ada, row.pace, bl.events)
			} else {
				neverReadsReplay(t, e, ada, row.wantReason, bl.events)
			}
			if logs := e.srv.logs.String(); strings.Contains(logs, `reason="slow client"`) {
				t.Errorf("a connection was closed as a slow client:\n%s", logs)
			}
			stillServed(t, e.hostileEnv, d)
			e.checkQuiet(t)
		})
	}
}

// slowReplay joins replayRoom from offset 0 and reads at pace, answering
// pings as it comes to them: it must receive every event once, in order,
// without being disconnected, and its session must still work after.
func slowReplay(t *testing.T, e *sioEnv, tok string, pace *pacer, replayEvents int) {
	c := dialRawSIOVia(t, e, tok, func(nc net.Conn) net.Conn { return &slowConn{Conn: smallReadBuffer(t, nc), pace: pace} })
	c.send(t, rawMsg{text: fmt.Sprintf(`20["room:join",{"room":%q,"after":0}]`, replayRoom)})
	got, joined := 0, false
	for got < replayEvents || !joined {
		if c.ws == nil && len(c.pending) == 0 {
			pace.wait() // before the next poll
		}
		p := c.next(t)
		if c.ws == nil {
			pace.n += len(p)
		}
		switch {
		case p == "":
			t.Fatalf("disconnected after %d of %d events (%d bytes read)%s", got, replayEvents, pace.n, closeReasons(e))
		case strings.HasPrefix(p, "30["):
			checkReplayJoin(t, p[2:])
			joined = true
		case strings.HasPrefix(p, "2["):
			n, err := replayEventN(p[1:])
			if err != nil || n != got+1 {
				t.Fatalf("after %d events: got %.200q (n %d, %v), want event %d", got, p, n, err, got+1)
			}
			got++
		default:
			t.Fatalf("after %d of %d events: %.200q", got, replayEvents, p)
		}
	}
	if !pace.stopped {
		t.Fatalf("read %d bytes in all, the stop at %d never came", pace.n, pace.stopAt)
	}
	// Still the same working session: it joins another room.
	c.send(t, rawMsg{text: `21["room:join",{"room":"general"}]`})
	if ack := c.ack(t, 1); !strings.Contains(ack, `"ok":true`) {
		t.Fatalf("join after the replay: %s", ack)
	}
}

// neverReadsReplay joins replayRoom from offset 0 and reads nothing:
// while it is held, good clients are served; then the server closes it
// for wantReason before the whole backlog was sent, without queueing it
// up to the write buffer limit (no "slow client").
func neverReadsReplay(t *testing.T, e *sioEnv, tok, wantReason string, replayEvents int) {
	c := dialRawSIOVia(t, e, tok, func(nc net.Conn) net.Conn { return smallReadBuffer(t, nc) })
	c.send(t, rawMsg{text: fmt.Sprintf(`20["room:join",{"room":%q,"after":0}]`, replayRoom)})
	stillServed(t, e.hostileEnv, e.d)
	want := fmt.Sprintf("reason=%q", wantReason)
	deadline := time.Now().Add(time.Minute)
	for logs := ""; !strings.Contains(logs, want); logs = e.srv.logs.String() {
		if strings.Contains(logs, `reason="slow client"`) || time.Now().After(deadline) {
			t.Fatalf("not closed for %s within a minute%s", want, closeReasons(e))
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := 0
	for p := c.next(t); p != ""; p = c.next(t) {
		if strings.HasPrefix(p, "2[") {
			got++
		}
	}
	if got >= replayEvents {
		t.Fatalf("received all %d events: the client that never read was not dropped", got)
	}
}

// closeReasons lists the server's logged session closes, for a failure.
func closeReasons(e *sioEnv) string {
	var b strings.Builder
	for line := range strings.Lines(e.srv.logs.String()) {
		if strings.Contains(line, "session closed") {
			b.WriteString("\n  " + strings.TrimSpace(line))
		}
	}
	return b.String()
}

// checkReplayJoin fails unless ack (the array of a join's ACK) is ok.
func checkReplayJoin(t *testing.T, ack string) {
	t.Helper()
	var a []struct {
		OK bool `json:"ok"`
	}
	if err := json.Unmarshal([]byte(ack), &a); err != nil || len(a) != 1 || !a[0].OK {
		t.Fatalf("join ack %.300q, want ok", ack)
	}
}

// replayEventN returns the n of a backlog event's EVENT packet array,
// checking its type, room and offset (the backlog is the log's first
// replayEvents events, n at offset n).
func replayEventN(arr string) (int, error) {
	var a []json.RawMessage
	if err := json.Unmarshal([]byte(arr), &a); err != nil || len(a) < 3 {
		return 0, fmt.Errorf("not an event with data and meta (%v)", err)
	}
	var typ string
	var data struct{ N int }
	var meta struct {
		Room   string
		Offset int
	}
	if json.Unmarshal(a[0], &typ) != nil || json.Unmarshal(a[1], &data) != nil || json.Unmarshal(a[2], &meta) != nil {
		return 0, errors.New("undecodable event")
	}
	if typ != "backlog" || meta.Room != replayRoom || meta.Offset != data.N {
		return data.N, fmt.Errorf("type %q room %q offset %d", typ, meta.Room, meta.Offset)
	}
	return data.N, nil
}

// publishBacklog publishes bl to replayRoom with the API key.
func publishBacklog(t *testing.T, base string, bl backlog) {
	t.Helper()
	pad := strings.Repeat("p", bl.pad)
	c := newClient()
	for first := 1; first <= bl.events; first += bl.batch {
		var b strings.Builder
		b.WriteByte('[')
		for n := first; n < first+bl.batch; n++ {
			if n > first {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"type":"backlog","data":{"n":%d,"pad":%q}}`, n, pad)
		}
		b.WriteByte(']')
		status, body, _ := send(t, c, hreq{method: "POST", url: base + "/api/rooms/" + replayRoom + "/events", body: b.String(), cred: cred{apiKey: testAPIKey}})
		if status != http.StatusCreated {
			t.Fatalf("publish the backlog from %d: %d %.300s", first, status, body)
		}
	}
}

// pacer is a slow reader's pace: a pause before each read (a poll, or a
// read of at most chunk bytes of a WebSocket), and once, when stopAt
// bytes are read, a stop. Used by one goroutine.
type pacer struct {
	chunk       int
	pause, stop time.Duration
	stopAt, n   int // n: bytes read so far
	stopped     bool
}

func (p *pacer) wait() {
	if !p.stopped && p.n >= p.stopAt {
		p.stopped = true
		time.Sleep(p.stop)
	}
	time.Sleep(p.pause)
}

// slowConn reads its connection at pace.
type slowConn struct {
	net.Conn
	pace *pacer
}

func (c *slowConn) Read(b []byte) (int, error) {
	c.pace.wait()
	if len(b) > c.pace.chunk {
		b = b[:c.pace.chunk]
	}
	n, err := c.Conn.Read(b)
	c.pace.n += n
	return n, err
}

// smallReadBuffer fixes nc's TCP receive buffer at 32 KiB: the kernel
// neither grows it (to megabytes on loopback) nor takes in much that the
// client has not read, so what it has not read stays on the server.
func smallReadBuffer(t *testing.T, nc net.Conn) net.Conn {
	if err := nc.(*net.TCPConn).SetReadBuffer(32 << 10); err != nil {
		t.Error(err)
	}
	return nc
}
