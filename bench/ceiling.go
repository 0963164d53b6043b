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

// ceilingTarget is the server of the ingest ceiling rows: the least a JSON
// publish endpoint does over net/http, to compare rtbroker's durable
// publish with in the same run (issue 15). It is this program, run as
// `bench ceiling --addr HOST:PORT`, pinned to core 0 like the others.
const ceilingTarget = "ceiling"

// ceilingCommand serves POST /api/rooms/{room}/events by reading the body,
// running json.Valid and answering 201 {"offset":N} (what rtbench counts),
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
		off := offset.Add(1)
		sio.publish(r.PathValue("room"), off, body)
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

// bareSocketIO is the ceiling of the storm rows: a gorilla/websocket
// server that speaks only as much Socket.IO v5 as rtbench's subscriber
// needs (the Engine.IO open packet, the answer to CONNECT, an ack to
// room:join, the publish of ceilingCommand sent on to the room's sockets),
// with no store, session or recovery behind it. Its time to connect the
// storm's clients is what connecting them costs on this machine before any
// broker work (issue 15).
type bareSocketIO struct {
	up   websocket.Upgrader
	sids atomic.Uint64
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

// publish sends data, the event of offset off, to room's sockets as
// rtbroker would: ["bench", data, {"offset": off}].
func (b *bareSocketIO) publish(room string, off uint64, data []byte) {
	b.mu.Lock()
	var conns []*bareConn
	for bc := range b.room[room] {
		conns = append(conns, bc)
	}
	b.mu.Unlock()
	if len(conns) == 0 {
		return // ingest: nobody listens
	}
	msg := append([]byte(`42["bench",`), data...)
	msg = strconv.AppendUint(append(msg, `,{"offset":`...), off, 10)
	msg = append(msg, "}]"...)
	for _, bc := range conns {
		bc.write(msg)
	}
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
