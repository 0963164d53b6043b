package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// appendPayload appends the data of a bench event: {"t":<unix ns>,"p":"x…"},
// padded with x to size bytes when size allows.
func appendPayload(dst []byte, t int64, size int) []byte {
	dst = append(dst, '{')
	dst = appendPayloadFields(dst, t, size-2)
	return append(dst, '}')
}

// appendPayloadFields appends "t":<unix ns>,"p":"x…", size bytes long when
// size allows.
func appendPayloadFields(dst []byte, t int64, size int) []byte {
	start := len(dst)
	dst = append(dst, `"t":`...)
	dst = strconv.AppendInt(dst, t, 10)
	dst = append(dst, `,"p":"`...)
	for pad := size - (len(dst) - start) - 1; pad > 0; pad-- {
		dst = append(dst, 'x')
	}
	return append(dst, '"')
}

// publisher publishes bench events round-robin over rooms, over HTTP or
// Socket.IO, and counts what was acknowledged per room (the subscribers'
// expected counts). Its connections go round-robin over the nodes of
// bases (one, or a cluster's). Safe for concurrent use.
type publisher struct {
	kind  string   // "http" or "sio"
	bases []string // server base URLs, one per node
	rooms []string
	size  int
	batch int // events per HTTP request
	conns int
	// targets are the request targets of the rooms' publish route, one
	// per room and per node: targets[node][room].
	targets [][]string
	hosts   []string // Host of each node
	dialer  *net.Dialer

	acked     []atomic.Uint64 // events acknowledged, per room
	errors    atomic.Uint64   // events whose publish failed
	next      atomic.Uint64   // round-robin position
	workers   atomic.Uint64   // workers started: worker i publishes to bases[i % len(bases)]
	lat       *Recorder       // send → acknowledgement
	gen       atomic.Uint64   // bumped by resetConns: Socket.IO publishers redial
	pause     sync.RWMutex    // held for writing while the server restarts
	errMu     sync.Mutex      // guards errs
	errs      []string
	sioDialer *websocket.Dialer
}

// The HTTP publisher speaks HTTP/1.1 itself (httpConn: one keep-alive
// connection per worker, its buffers reused), as the subscribers do. With
// net/http's client the load tool's core was the bottleneck of ingest on
// a slower machine: 95 % busy at 15.1k publishes/s against the ceiling
// handler (63 µs each), 87 % at 9.8k against rtbroker; with httpConn 74 %
// at 31.8k (23 µs) and 61 % at 17.4k, in the same kind of run.
func newPublisher(kind string, bases, rooms []string, size, batch, conns int, timeout time.Duration) *publisher {
	p := &publisher{
		kind: kind, bases: bases, rooms: rooms, size: size, batch: max(batch, 1), conns: max(conns, 1),
		acked:     make([]atomic.Uint64, len(rooms)),
		lat:       NewRecorder(8),
		dialer:    newDialer(nil, timeout),
		sioDialer: &websocket.Dialer{HandshakeTimeout: timeout},
	}
	for _, base := range bases {
		host, path := base, ""
		if u, err := url.Parse(base); err == nil && u.Host != "" {
			host, path = u.Host, strings.TrimSuffix(u.EscapedPath(), "/")
		}
		ts := make([]string, len(rooms))
		for i, r := range rooms {
			ts[i] = path + "/api/rooms/" + url.PathEscape(r) + "/events"
		}
		p.targets, p.hosts = append(p.targets, ts), append(p.hosts, host)
	}
	return p
}

// ackedCounts returns the events acknowledged per room.
func (p *publisher) ackedCounts() []uint64 {
	out := make([]uint64, len(p.acked))
	for i := range p.acked {
		out[i] = p.acked[i].Load()
	}
	return out
}

// published returns the events acknowledged in all.
func (p *publisher) published() uint64 {
	var n uint64
	for i := range p.acked {
		n += p.acked[i].Load()
	}
	return n
}

func (p *publisher) noteErr(err error) {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300]
	}
	if len(p.errs) < maxErrors {
		for _, e := range p.errs {
			if e == msg {
				return
			}
		}
		p.errs = append(p.errs, msg)
	}
}

// errorSamples returns a few distinct publish errors.
func (p *publisher) errorSamples() []string {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return append([]string(nil), p.errs...)
}

// stopPublishing waits for the publishes in flight and holds new ones
// until resume.
func (p *publisher) stopPublishing() { p.pause.Lock() }

// resume lets publishing go on, on new connections.
func (p *publisher) resume() {
	p.gen.Add(1)
	p.pause.Unlock()
}

// run publishes for d at rate events/s in all (0: as fast as the
// connections go) and returns when the publishes in flight are done.
func (p *publisher) run(ctx context.Context, rate float64, d time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var jobs chan struct{}
	var wg sync.WaitGroup
	if rate > 0 {
		jobs = make(chan struct{}, p.conns)
		wg.Go(func() { pace(ctx, rate, jobs) })
	}
	for range p.conns {
		wg.Go(func() { p.worker(ctx, jobs) })
	}
	wg.Wait()
}

// publishN publishes n events, round-robin over the rooms, as fast as the
// connections go.
func (p *publisher) publishN(ctx context.Context, n int) {
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	var wg sync.WaitGroup
	for range min(p.conns, n) {
		wg.Go(func() { p.worker(ctx, jobs) })
	}
	wg.Wait()
}

// pace sends one job per 1/rate seconds on jobs (blocking when the
// publishers lag: the rate achieved is what is reported), then closes it.
// After a stall (publishing paused, or publishers slower than the rate) it
// does not catch up by more than a tenth of a second's worth of jobs.
func pace(ctx context.Context, rate float64, jobs chan<- struct{}) {
	defer close(jobs)
	start := time.Now()
	var sent uint64
	backlog := uint64(max(rate/10, 1))
	for {
		el := time.Since(start)
		due := uint64(el.Seconds()*rate) + 1
		if due > sent+backlog {
			sent = due - backlog
		}
		for ; sent < due; sent++ {
			select {
			case jobs <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
		wait := time.Duration(float64(sent)/rate*float64(time.Second)) - time.Since(start)
		select {
		case <-time.After(max(wait, 200*time.Microsecond)):
		case <-ctx.Done():
			return
		}
	}
}

// worker publishes one event (or batch) per job, or back to back when
// jobs is nil, until ctx ends.
func (p *publisher) worker(ctx context.Context, jobs <-chan struct{}) {
	w := &pubWorker{p: p, node: int(p.workers.Add(1)-1) % len(p.bases)}
	defer w.close()
	for {
		if jobs != nil {
			select {
			case _, ok := <-jobs:
				if !ok {
					return
				}
			case <-ctx.Done():
				return
			}
		} else if ctx.Err() != nil {
			return
		}
		room := int(p.next.Add(1)-1) % len(p.rooms)
		p.pause.RLock()
		// The publish itself is not cut short by the end of the run: its
		// outcome must be known.
		err := w.publish(context.WithoutCancel(ctx), room)
		p.pause.RUnlock()
		if err != nil {
			p.errors.Add(uint64(p.batch))
			p.noteErr(err)
		}
	}
}

// pubWorker is one publishing connection's state.
type pubWorker struct {
	p    *publisher
	node int // the index in p.bases of the node it publishes to
	body []byte
	hc   *httpConn // the HTTP publisher's connection, dialed by the first publish
	ws   *websocket.Conn
	gen  uint64 // p.gen when hc or ws was dialed
	seq  int64
}

func (w *pubWorker) close() {
	if w.ws != nil {
		w.ws.Close()
	}
	if w.hc != nil {
		w.hc.close()
	}
}

func (w *pubWorker) publish(ctx context.Context, room int) error {
	if w.p.kind == "sio" {
		return w.publishSIO(ctx, room)
	}
	return w.publishHTTP(ctx, room)
}

// publishHTTP POSTs one event, or a batch of p.batch events (a JSON
// array), to the room.
func (w *pubWorker) publishHTTP(ctx context.Context, room int) error {
	p := w.p
	start := time.Now()
	t := start.UnixNano()
	w.body = w.body[:0]
	if p.batch > 1 {
		w.body = append(w.body, '[')
	}
	for i := range p.batch {
		if i > 0 {
			w.body = append(w.body, ',')
		}
		w.body = append(w.body, `{"type":"bench","data":`...)
		w.body = appendPayload(w.body, t, p.size)
		w.body = append(w.body, '}')
	}
	if p.batch > 1 {
		w.body = append(w.body, ']')
	}
	if w.hc != nil && w.gen != p.gen.Load() {
		w.hc.close()
		w.hc = nil
	}
	if w.hc == nil {
		w.gen = p.gen.Load()
		hc, err := dialHTTP(ctx, p.dialer, p.hosts[w.node])
		if err != nil {
			return err
		}
		w.hc = hc
	}
	w.hc.nc.SetDeadline(start.Add(30 * time.Second))
	w.hc.startRequest(http.MethodPost, p.targets[w.node][room], p.hosts[w.node])
	w.hc.header("Content-Type", "application/json")
	status, resp, err := w.hc.roundTrip(w.body)
	if err != nil {
		w.hc.close() // the next publish dials again
		w.hc = nil
		return err
	}
	if status != http.StatusCreated {
		return fmt.Errorf("publish: HTTP %d: %.200s", status, resp)
	}
	n := uint64(bytes.Count(resp, keyOffset))
	if n != uint64(p.batch) {
		return fmt.Errorf("publish: %d offsets in the answer, want %d: %.200s", n, p.batch, resp)
	}
	p.lat.Record(room, time.Since(start).Nanoseconds())
	p.acked[room].Add(n)
	return nil
}

// publishSIO emits one bench event {room, t, p} on a Socket.IO
// WebSocket and waits for its ack {ok: true, offset}.
func (w *pubWorker) publishSIO(ctx context.Context, room int) error {
	p := w.p
	if w.ws != nil && w.gen != p.gen.Load() {
		w.ws.Close()
		w.ws = nil
	}
	if w.ws == nil {
		if err := w.dialSIO(ctx); err != nil {
			return err
		}
	}
	start := time.Now()
	w.seq++
	w.body = append(w.body[:0], eioMessage, sioEvent)
	w.body = strconv.AppendInt(w.body, w.seq, 10)
	w.body = append(w.body, `["bench",{"room":"`...)
	w.body = append(w.body, p.rooms[room]...)
	w.body = append(w.body, `",`...)
	w.body = appendPayloadFields(w.body, start.UnixNano(), p.size-2)
	w.body = append(w.body, "}]"...)
	w.ws.SetWriteDeadline(time.Now().Add(30 * time.Second))
	w.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := w.ws.WriteMessage(websocket.TextMessage, w.body); err != nil {
		w.drop()
		return err
	}
	for {
		_, msg, err := w.ws.ReadMessage()
		if err != nil {
			w.drop()
			return err
		}
		switch {
		case len(msg) == 1 && msg[0] == eioPing:
			if err := w.ws.WriteMessage(websocket.TextMessage, []byte{eioPong}); err != nil {
				w.drop()
				return err
			}
			continue
		case len(msg) < 2 || msg[0] != eioMessage:
			continue
		}
		pk, err := parseSIO(msg[1:])
		if err != nil || pk.typ != sioAck || pk.id != w.seq {
			continue
		}
		if !ackOK(pk.data) {
			return fmt.Errorf("publish refused: %.200s", pk.data)
		}
		if _, ok := uintAfter(pk.data, keyOffset); !ok {
			return fmt.Errorf("publish ack without an offset: %.200s", pk.data)
		}
		p.lat.Record(room, time.Since(start).Nanoseconds())
		p.acked[room].Add(1)
		return nil
	}
}

func (w *pubWorker) drop() {
	w.ws.Close()
	w.ws = nil
}

// dialSIO opens a Socket.IO connection on the main namespace.
func (w *pubWorker) dialSIO(ctx context.Context) error {
	base := w.p.bases[w.node]
	u := "ws" + base[len("http"):] + "/socket.io/?EIO=4&transport=websocket"
	ws, _, err := w.p.sioDialer.DialContext(ctx, u, nil)
	if err != nil {
		return fmt.Errorf("publisher connect: %w", err)
	}
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	w.ws, w.gen, w.seq = ws, w.p.gen.Load(), 0
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			w.drop()
			return fmt.Errorf("publisher connect: %w", err)
		}
		switch {
		case len(msg) > 0 && msg[0] == eioOpen:
			if err := ws.WriteMessage(websocket.TextMessage, []byte{eioMessage, sioConnect}); err != nil {
				w.drop()
				return err
			}
		case len(msg) > 1 && msg[0] == eioMessage && msg[1] == sioConnect:
			return nil
		case len(msg) > 1 && msg[0] == eioMessage && msg[1] == sioConnectError:
			w.drop()
			return fmt.Errorf("publisher connect: %s", msg[2:])
		case len(msg) == 0:
			w.drop()
			return errors.New("publisher connect: empty message")
		}
	}
}
