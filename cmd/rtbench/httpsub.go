package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"
)

// sseTransport follows one room over Server-Sent Events, read with
// readStream; it resumes with Last-Event-ID (the last offset received) as
// EventSource does.
type sseTransport struct {
	c       *client
	hc      *httpConn
	chunked bool
	dec     chunkDecoder
	p       sseParser
}

func newSSETransport(c *client) *sseTransport { return &sseTransport{c: c} }

func (s *sseTransport) connect(ctx context.Context) error {
	f, ep := s.c.f, s.c.ep
	hc, err := dialHTTP(ctx, s.c.dial, ep.addr)
	if err != nil {
		return err
	}
	s.hc = hc
	s.c.track(hc.nc, nil)
	hc.nc.SetDeadline(time.Now().Add(f.spec.ConnectTimeout))
	target := ep.path + "/sse?room=" + url.QueryEscape(s.c.room)
	if f.spec.FromZero && s.c.last == 0 {
		target += "&after=0"
	}
	hc.startRequest("GET", target, ep.host)
	hc.header("Accept", "text/event-stream")
	if s.c.last > 0 {
		hc.header("Last-Event-ID", strconv.FormatUint(s.c.last, 10))
	}
	if err := hc.send(nil); err != nil {
		return err
	}
	hd, err := hc.readHead()
	if err != nil {
		return err
	}
	if hd.status != 200 {
		body, _ := hc.readBody(hd)
		return &errStatus{hd.status, string(body)}
	}
	s.chunked = hd.chunked
	s.dec = chunkDecoder{line: s.dec.line[:0]}
	s.p = sseParser{carry: s.p.carry[:0], typ: s.p.typ[:0], id: s.p.id[:0], data: s.p.data[:0]}
	rest, _ := hc.br.Peek(hc.br.Buffered())
	if err := s.chunk(rest); err != nil {
		return err
	}
	return hc.nc.SetDeadline(time.Time{})
}

func (s *sseTransport) read() error {
	err := readStream(s.hc.nc, s.c.f.bufs, s.chunk)
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// chunk handles bytes read from the connection.
func (s *sseTransport) chunk(p []byte) error {
	if s.chunked {
		return s.dec.feed(p, s.body)
	}
	return s.body(p)
}

func (s *sseTransport) body(p []byte) error { return s.p.feed(p, s.event) }

func (s *sseTransport) event(ev *sseEvent) error {
	switch string(ev.typ) {
	case "bench":
		off, _, ok := leadingUint(ev.id)
		if !ok || !ev.hasID {
			return fmt.Errorf("SSE bench event without an id: %.200s", ev.data)
		}
		t, _ := intAfter(ev.data, keyT)
		s.c.deliver(off, t, time.Now().UnixNano())
	case "reset":
		s.c.f.resets.Add(1)
	}
	return nil
}

// longpollTransport follows one room with GET /poll, passing each
// response's next as the following after.
type longpollTransport struct {
	c    *client
	hc   *httpConn
	next uint64 // the after of the next poll
	has  bool   // next is known (else: live, no after)
}

func newLongpollTransport(c *client) *longpollTransport {
	return &longpollTransport{c: c, has: c.f.spec.FromZero}
}

// connect opens a connection and makes a first poll that does not wait
// (timeout=0), which proves the subscription is accepted.
func (l *longpollTransport) connect(ctx context.Context) error {
	f, ep := l.c.f, l.c.ep
	hc, err := dialHTTP(ctx, l.c.dial, ep.addr)
	if err != nil {
		return err
	}
	l.hc = hc
	l.c.track(hc.nc, nil)
	hc.onDial = func(nc net.Conn) { l.c.track(nc, nil) }
	hc.nc.SetDeadline(time.Now().Add(f.spec.ConnectTimeout))
	if err := l.poll("0"); err != nil {
		return err
	}
	return hc.nc.SetDeadline(time.Time{})
}

func (l *longpollTransport) read() error {
	for {
		if err := l.poll("25s"); err != nil {
			return err
		}
	}
}

// poll makes one poll and delivers its events.
func (l *longpollTransport) poll(timeout string) error {
	f, ep := l.c.f, l.c.ep
	hc := l.hc
	target := make([]byte, 0, 128)
	target = append(target, ep.path...)
	target = append(target, "/poll?room="...)
	target = append(target, url.QueryEscape(l.c.room)...)
	if l.has {
		target = append(target, "&after="...)
		target = strconv.AppendUint(target, l.next, 10)
	}
	target = append(target, "&limit=1000&timeout="...)
	target = append(target, timeout...)
	hc.startRequest("GET", string(target), ep.host)
	status, body, err := hc.roundTrip(nil)
	if err != nil && !errors.Is(err, errConnClose) {
		return err
	}
	if status != 200 {
		return &errStatus{status, string(body)}
	}
	now := time.Now().UnixNano()
	next, ok := eachPolledEvent(body, func(off uint64, t int64) { l.c.deliver(off, t, now) })
	if !ok {
		return fmt.Errorf("malformed poll response: %.200s", body)
	}
	if len(body) > 0 && bytes.Contains(body, []byte(`"reset":`)) {
		f.resets.Add(1)
	}
	l.next, l.has = next, true
	return err
}
