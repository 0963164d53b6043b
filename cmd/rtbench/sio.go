package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// sioState is where a Socket.IO subscriber is in its (re)connection.
type sioState int

const (
	waitOpen    sioState = iota // the Engine.IO open packet
	waitConnect                 // the answer to CONNECT
	waitJoin                    // the room:join ack
	sioLive                     // subscribed
)

// sioSession is the Socket.IO v5 side of a subscriber, shared by the
// WebSocket and polling transports: CONNECT (with {pid, offset} to
// recover), room:join (when not recovered), events, pings. It runs on the
// client's goroutine; send writes (or queues) one Engine.IO packet.
type sioSession struct {
	c     *client
	send  func(p []byte) error
	state sioState
	pid   []byte // the session's private id, for recovery
	token []byte // the recovery offset token of the last event
	seq   int64  // the last ack id used
	out   []byte // packet being built
}

// reset starts a (re)connection.
func (s *sioSession) reset() { s.state = waitOpen }

// handle processes one Engine.IO packet.
func (s *sioSession) handle(p []byte) error {
	if len(p) == 0 {
		return errBadPacket
	}
	switch p[0] {
	case eioOpen:
		if s.state != waitOpen {
			return errors.New("unexpected Engine.IO open packet")
		}
		return s.connect()
	case eioPing:
		return s.send([]byte{eioPong})
	case eioMessage:
		return s.handleSIO(p[1:])
	case eioClose:
		return errors.New("the server closed the Engine.IO session")
	case eioPong, eioNoop:
		return nil
	}
	return fmt.Errorf("unknown Engine.IO packet %q", p[:1])
}

// connect sends CONNECT, with the recovery handshake when the session has
// a pid.
func (s *sioSession) connect() error {
	s.out = append(s.out[:0], eioMessage, sioConnect)
	if len(s.pid) > 0 {
		s.out = append(s.out, `{"pid":"`...)
		s.out = append(s.out, s.pid...)
		s.out = append(s.out, `","offset":"`...)
		s.out = append(s.out, s.token...)
		s.out = append(s.out, `"}`...)
	}
	s.state = waitConnect
	return s.send(s.out)
}

func (s *sioSession) handleSIO(p []byte) error {
	pk, err := parseSIO(p)
	if err != nil {
		return err
	}
	if len(pk.nsp) > 0 {
		return nil // not ours
	}
	switch pk.typ {
	case sioEvent:
		return s.event(pk.data)
	case sioConnect:
		if s.state != waitConnect {
			return errors.New("unexpected CONNECT")
		}
		pid := stringField(pk.data, "pid")
		if len(s.pid) > 0 && bytes.Equal(pid, s.pid) {
			s.state = sioLive // recovered: rooms and missed events restored
			return nil
		}
		if len(s.pid) > 0 {
			s.c.f.unrecovered.Add(1)
		}
		s.pid = append(s.pid[:0], pid...)
		return s.join()
	case sioAck:
		if s.state == waitJoin && pk.id == s.seq {
			if !ackOK(pk.data) {
				return fmt.Errorf("room:join refused: %s", pk.data)
			}
			s.state = sioLive
		}
		return nil
	case sioConnectError:
		return fmt.Errorf("connect_error: %s", pk.data)
	case sioDisconnect:
		return errors.New("the server disconnected the socket")
	}
	return nil
}

// join sends room:join from the last offset received (rtbroker) or from
// now (the Node peer, which keeps no history).
func (s *sioSession) join() error {
	s.seq++
	s.out = append(s.out[:0], eioMessage, sioEvent)
	s.out = strconv.AppendInt(s.out, s.seq, 10)
	s.out = append(s.out, `["room:join",{"room":"`...)
	s.out = append(s.out, s.c.room...)
	s.out = append(s.out, '"')
	if s.c.f.spec.FromZero {
		s.out = append(s.out, `,"after":`...)
		s.out = strconv.AppendUint(s.out, s.c.last, 10)
	}
	s.out = append(s.out, "}]"...)
	s.state = waitJoin
	return s.send(s.out)
}

var benchName = []byte("bench")

// event delivers a bench event and keeps its recovery token.
func (s *sioSession) event(data []byte) error {
	name, rest, ok := eventName(data)
	if !ok {
		return nil
	}
	if !bytes.Equal(name, benchName) {
		if string(name) == "reset" {
			s.c.f.resets.Add(1)
		}
		return nil
	}
	t, off, token, ok := benchFields(rest)
	if !ok {
		return fmt.Errorf("malformed bench event: %.200s", data)
	}
	if token != nil {
		s.token = append(s.token[:0], token...)
	}
	s.c.deliver(off, t, time.Now().UnixNano())
	return nil
}

// wsTransport is Socket.IO over a WebSocket opened directly
// (transport=websocket, no polling first), read with readStream.
type wsTransport struct {
	c      *client
	s      sioSession
	nc     net.Conn
	r      wsReader
	out    []byte                  // the frame being written
	toLive bool                    // connecting: stop reading once subscribed
	reg    atomic.Pointer[liveReg] // while read uses the fleet's livePoller
}

func newWSTransport(c *client) *wsTransport {
	w := &wsTransport{c: c}
	w.s = sioSession{c: c, send: w.write}
	return w
}

// write sends one Engine.IO packet as a text frame.
func (w *wsTransport) write(p []byte) error {
	w.out = appendWSFrame(w.out[:0], wsText, p)
	_, err := w.nc.Write(w.out)
	return err
}

func (w *wsTransport) connect(ctx context.Context) error {
	f, ep := w.c.f, w.c.ep
	nc, rest, err := dialWS(ctx, w.c.dial, ep.addr, ep.host, ep.path+"/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		return err
	}
	w.nc = nc
	w.c.track(nc, nil)
	nc.SetDeadline(time.Now().Add(f.spec.ConnectTimeout))
	w.r = wsReader{msg: w.r.msg[:0], ctl: w.r.ctl[:0]}
	w.s.reset()
	w.toLive = true
	err = w.chunk(rest)
	if err == nil {
		err = readStream(nc, f.bufs, w.chunk)
	}
	w.toLive = false
	if err != errPause {
		return err
	}
	return nc.SetDeadline(time.Time{})
}

// read delivers live events through the fleet's livePoller (readStream
// where there is none).
func (w *wsTransport) read() error {
	if p := w.c.f.poller; p != nil {
		if err := p.read(w.nc, w.chunk, &w.reg); err != errNoPoll {
			return err
		}
	}
	return readStream(w.nc, w.c.f.bufs, w.chunk)
}

// detach takes the connection out of the livePoller before it is closed.
func (w *wsTransport) detach() {
	if r := w.reg.Load(); r != nil {
		r.detach()
	}
}

// chunk handles bytes read from the connection.
func (w *wsTransport) chunk(p []byte) error {
	if err := w.r.feed(p, w.onMessage, w.onControl); err != nil {
		return err
	}
	if w.toLive && w.s.state == sioLive {
		return errPause
	}
	return nil
}

func (w *wsTransport) onMessage(op byte, msg []byte) error {
	if op != wsText {
		return nil // binary attachments: not used by the bench
	}
	return w.s.handle(msg)
}

func (w *wsTransport) onControl(op byte, p []byte) error {
	switch op {
	case wsPing:
		w.out = appendWSFrame(w.out[:0], wsPong, p)
		_, err := w.nc.Write(w.out)
		return err
	case wsClose:
		return errors.New("the server closed the WebSocket")
	}
	return nil
}

// pollingTransport is Socket.IO over Engine.IO HTTP long-polling: one
// keep-alive connection holds the GETs, another carries the POSTs. The
// packets the session sends while a GET's payload is handled are queued
// and POSTed together before the next GET.
type pollingTransport struct {
	c      *client
	s      sioSession
	get    *httpConn
	post   *httpConn
	target string // the session's URL path and query
	out    []byte // queued packets, joined by the record separator
}

func newPollingTransport(c *client) *pollingTransport {
	p := &pollingTransport{c: c}
	p.s = sioSession{c: c, send: p.queue}
	return p
}

func (p *pollingTransport) queue(pkt []byte) error {
	if len(p.out) > 0 {
		p.out = append(p.out, eioSeparator)
	}
	p.out = append(p.out, pkt...)
	return nil
}

func (p *pollingTransport) connect(ctx context.Context) error {
	f, ep := p.c.f, p.c.ep
	var err error
	if p.get, err = dialHTTP(ctx, p.c.dial, ep.addr); err != nil {
		return err
	}
	p.c.track(p.get.nc, nil)
	if p.post, err = dialHTTP(ctx, p.c.dial, ep.addr); err != nil {
		return err
	}
	p.c.track(p.get.nc, p.post.nc)
	p.get.onDial = func(nc net.Conn) { p.c.track(nc, p.post.nc) }
	p.post.onDial = func(nc net.Conn) { p.c.track(p.get.nc, nc) }
	deadline := time.Now().Add(f.spec.ConnectTimeout)
	p.get.nc.SetDeadline(deadline)
	p.post.nc.SetDeadline(deadline)
	p.out = p.out[:0]
	p.s.reset()
	p.get.startRequest("GET", ep.path+"/socket.io/?EIO=4&transport=polling", ep.host)
	status, body, err := p.get.roundTrip(nil)
	if err != nil {
		return err
	}
	if status != 200 {
		return &errStatus{status, string(body)}
	}
	sid := stringField(body, "sid")
	if sid == nil {
		return fmt.Errorf("no sid in the handshake: %.200s", body)
	}
	p.target = ep.path + "/socket.io/?EIO=4&transport=polling&sid=" + string(sid)
	if err := p.payload(body); err != nil {
		return err
	}
	for p.s.state != sioLive {
		if err := p.cycle(); err != nil {
			return err
		}
	}
	p.get.nc.SetDeadline(time.Time{})
	p.post.nc.SetDeadline(time.Time{})
	return nil
}

func (p *pollingTransport) read() error {
	for {
		if err := p.cycle(); err != nil {
			return err
		}
	}
}

// cycle POSTs what is queued, then GETs and handles one payload.
func (p *pollingTransport) cycle() error {
	if len(p.out) > 0 {
		p.post.startRequest("POST", p.target, p.c.ep.host)
		p.post.header("Content-Type", "text/plain;charset=UTF-8")
		status, body, err := p.post.roundTrip(p.out)
		if err != nil {
			return fmt.Errorf("polling POST: %w", err)
		}
		if status != 200 {
			return &errStatus{status, string(body)}
		}
		p.out = p.out[:0]
	}
	p.get.startRequest("GET", p.target, p.c.ep.host)
	status, body, err := p.get.roundTrip(nil)
	if err != nil {
		return fmt.Errorf("polling GET: %w", err)
	}
	if status != 200 {
		return &errStatus{status, string(body)}
	}
	return p.payload(body)
}

// payload handles the packets of one polling payload.
func (p *pollingTransport) payload(body []byte) error {
	for len(body) > 0 {
		pkt := body
		i := bytes.IndexByte(body, eioSeparator)
		if i >= 0 {
			pkt, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if err := p.s.handle(pkt); err != nil {
			return err
		}
	}
	return nil
}

// abandon tells the server that the session the tool just dropped is
// closed (an Engine.IO close packet POSTed to it, as socket.io-client's
// engine.close() sends): a polling session has no connection whose loss
// the server would notice between two GETs, and the Node server refuses
// to recover a session it still believes open. Best effort.
func (p *pollingTransport) abandon(ctx context.Context) {
	if p.target == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, p.c.f.spec.ConnectTimeout)
	defer cancel()
	hc, err := dialHTTP(ctx, p.c.dial, p.c.ep.addr)
	if err != nil {
		return
	}
	defer hc.close()
	hc.nc.SetDeadline(time.Now().Add(p.c.f.spec.ConnectTimeout))
	hc.startRequest("POST", p.target, p.c.ep.host)
	hc.header("Content-Type", "text/plain;charset=UTF-8")
	hc.roundTrip([]byte{eioClose})
}
