package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// ceilingTarget is the server of the ceiling rows (issue 15), measured in
// the same run as rtbroker: for ingest the least a JSON publish endpoint
// does over net/http; for the drop storm and the 15k fan-out a bare
// WebSocket server (bareSocketIO) that connects the clients and writes
// each publish to its room's sockets. It is this program, run as
// `bench ceiling --addr HOST:PORT`, pinned to core 0 like the others.
const ceilingTarget = "ceiling"

// ceilingCommand serves POST /api/rooms/{room}/events by reading the body,
// running json.Valid, handing it to bareSocketIO's sockets of the room
// (none in ingest) and answering 201 {"offset":N} (what rtbench counts),
// GET /socket.io/ (bareSocketIO) and GET /healthz, until SIGTERM or SIGINT.
// Nothing is stored.
func ceilingCommand(args []string) error {
	fs := flag.NewFlagSet("ceiling", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8099", "`host:port` to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	var offset atomic.Uint64
	sio := newBareSocketIO()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{\"ok\":true}\n") })
	mux.HandleFunc("POST /api/rooms/{room}/events", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || !json.Valid(body) {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		off := sio.publish(r.PathValue("room"), body, &offset)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write(strconv.AppendUint([]byte(`{"offset":`), off, 10))
		io.WriteString(w, "}\n")
	})
	mux.Handle("GET /socket.io/", sio)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// bareSocketIO is the ceiling of the storm and fan-out rows: a
// gorilla/websocket server that speaks only as much Socket.IO v5 as
// rtbench's subscriber needs (the Engine.IO open packet, the answer to
// CONNECT, an ack to room:join, the publish of ceilingCommand sent on to
// the room's sockets), with no store, session or recovery behind it. Its time to connect the
// storm's clients, and its fan-out, are what connecting and writing to
// them cost on this machine before any broker work (issue 15).
type bareSocketIO struct {
	up   websocket.Upgrader
	sids atomic.Uint64
	pub  sync.Mutex // held by publish while it sends an event
	mu   sync.Mutex
	room map[string]map[*bareConn]bool // guarded by mu
}

// A bareConn is one socket of bareSocketIO.
type bareConn struct {
	mu sync.Mutex // one writer at a time (gorilla/websocket)
	c  *websocket.Conn
}

func (bc *bareConn) write(p []byte) error {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	return bc.c.WriteMessage(websocket.TextMessage, p)
}

func newBareSocketIO() *bareSocketIO {
	return &bareSocketIO{up: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
		room: map[string]map[*bareConn]bool{}}
}

func (b *bareSocketIO) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("transport") != "websocket" {
		http.Error(w, `{"error":"websocket only"}`, http.StatusBadRequest)
		return
	}
	c, err := b.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	bc := &bareConn{c: c}
	var joined []string
	defer func() {
		b.mu.Lock()
		for _, room := range joined {
			delete(b.room[room], bc)
		}
		b.mu.Unlock()
		c.Close()
	}()
	sid := strconv.FormatUint(b.sids.Add(1), 36)
	out := []byte(`0{"sid":"` + sid + `","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`)
	for {
		if out != nil && bc.write(out) != nil {
			return
		}
		_, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		var room string
		out, room = bareAnswer(p, sid)
		if room != "" {
			b.mu.Lock()
			if b.room[room] == nil {
				b.room[room] = map[*bareConn]bool{}
			}
			b.room[room][bc] = true
			b.mu.Unlock()
			joined = append(joined, room)
		}
	}
}

// publish gives data the next of offsets and, when room has sockets,
// sends it to them as rtbroker would, ["bench", data, {"offset": N}]: one
// event at a time, in offset order, each written to every socket before
// the next (a bare broadcast loop). It returns the offset.
func (b *bareSocketIO) publish(room string, data []byte, offsets *atomic.Uint64) uint64 {
	b.mu.Lock()
	n := len(b.room[room])
	b.mu.Unlock()
	if n == 0 {
		return offsets.Add(1) // ingest: nobody listens
	}
	b.pub.Lock()
	defer b.pub.Unlock()
	off := offsets.Add(1)
	b.mu.Lock()
	conns := make([]*bareConn, 0, len(b.room[room]))
	for bc := range b.room[room] {
		conns = append(conns, bc)
	}
	b.mu.Unlock()
	msg := append([]byte(`42["bench",`), data...)
	msg = strconv.AppendUint(append(msg, `,{"offset":`...), off, 10)
	msg = append(msg, "}]"...)
	for _, bc := range conns {
		bc.write(msg)
	}
	return off
}

// bareAnswer is bareSocketIO's answer to the Engine.IO packet p (nil for
// none) and the room it joins ("" for none): CONNECT gets the client's own
// pid back when it sent one (so a reconnecting client takes itself as
// recovered, as from rtbroker) or a new one, room:join with an ack id gets
// [{"ok":true}], a ping its pong.
func bareAnswer(p []byte, sid string) (out []byte, room string) {
	switch {
	case bytes.HasPrefix(p, []byte("40")):
		pid := "p" + sid
		var hs struct{ PID string }
		if json.Unmarshal(p[2:], &hs) == nil && hs.PID != "" {
			pid = hs.PID
		}
		return []byte(`40{"sid":"` + sid + `","pid":"` + pid + `"}`), ""
	case bytes.HasPrefix(p, []byte("42")):
		i := 2
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			i++
		}
		var ev []json.RawMessage
		var join struct{ Room string }
		if i == 2 || json.Unmarshal(p[i:], &ev) != nil || len(ev) != 2 || string(ev[0]) != `"room:join"` || json.Unmarshal(ev[1], &join) != nil {
			return nil, ""
		}
		return append(append([]byte("43"), p[2:i]...), `[{"ok":true}]`...), join.Room
	case bytes.Equal(p, []byte("2")):
		return []byte("3"), ""
	}
	return nil, ""
}
