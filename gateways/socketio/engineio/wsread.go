package engineio

import (
	"encoding/binary"
	"errors"
	"sync/atomic"
	"time"

	"github.com/rtbroker/rtbroker/gateways/internal/netpoll"
	"github.com/rtbroker/rtbroker/gateways/internal/pump"
	"github.com/rtbroker/rtbroker/gateways/internal/rawio"
	"github.com/rtbroker/rtbroker/gateways/internal/warm"
)

const (
	// readBufSize is the size of the pooled buffers WebSocket frames are
	// read into; a frame that does not fit gets a buffer of its size.
	readBufSize = 4 << 10
	// readBudget is how much one run of a connection's reader reads at
	// most before it lets other connections be served.
	readBudget = 64 << 10
)

// wsReader is the reading side of a WebSocket transport.
//
// With the server's poller (Linux, TCP) the connection has no goroutine
// while idle: the poller makes the reader task ready when the socket has
// data, and the task, on a pool worker, reads without blocking, parses the
// frames, and arms the poller again. Bytes are read into a buffer taken
// from a pool, kept only while a frame is incomplete. Control frames and
// engine packets that call no handler (pong, close) are handled on the
// worker; messages go to an inbox drained, in order, by a deliverer
// goroutine that exists only while there are messages (the message
// callback may block). While the inbox holds more than MaxPayload bytes,
// the reader stops reading (the client is slowed down by TCP).
//
// Without the poller, a goroutine reads the connection with blocking reads
// and calls the handlers itself.
type wsReader struct {
	c    *Conn
	task *pump.Task                  // poller mode: the reader task
	reg  atomic.Pointer[netpoll.Reg] // poller mode: the registration, once made
	buf  *[]byte                     // unparsed bytes of an incomplete frame; owned by the reader
	in   *inbox                      // messages for the deliverer; guarded by c.mu, nil when none
	fr   frameReader
}

// inbox holds the messages the reader passed on while a deliverer
// goroutine runs; it exists only meanwhile.
type inbox struct {
	pkts   []packet
	bytes  int
	paused bool // the reader waits for the inbox to drain
}

// startReading starts reading wc, the WebSocket transport of c, with the
// bytes already read (buffered, after an upgrade's "5") first.
func (s *Server) startReading(c *Conn, wc *wsConn, buffered []byte) {
	wc.c = c
	if s.poll == nil || wc.raw == nil {
		s.wg.Go(func() { s.readLoop(wc, buffered) })
		return
	}
	if len(buffered) > 0 {
		b := append(make([]byte, 0, max(readBufSize, len(buffered))), buffered...)
		wc.buf = &b
	}
	wc.task = s.pool.NewTask(wc.step)
	reg, err := s.poll.Add(wc.raw, wc.task) // the task is the Readier: no closure
	if err != nil {
		wc.task = nil
		s.wg.Go(func() { s.readLoop(wc, buffered) })
		return
	}
	c.mu.Lock()
	closed := c.state == stateClosed
	if !closed {
		wc.reg.Store(reg)
	}
	c.mu.Unlock()
	if closed {
		reg.Remove()
		return
	}
	wc.task.Ready() // what was buffered, and what came before the registration
}

// close closes the connection, after taking it out of the poller (its file
// descriptor may be reused as soon as it is closed). Idempotent.
func (wc *wsConn) close() {
	if reg := wc.reg.Load(); reg != nil {
		reg.Remove()
	}
	_ = wc.nc.Close()
}

// step is the reader task (poller mode): read what the socket holds,
// handle the complete frames, and arm the poller for more.
func (wc *wsConn) step() {
	reg := wc.reg.Load()
	if wc.done || reg == nil {
		return // not registered yet: startReading makes the task ready once it is
	}
	c := wc.c
	s := c.srv
	for budget := readBudget; budget > 0; {
		if wc.buf == nil {
			wc.buf = s.getReadBuf()
		}
		b := growFor(*wc.buf, int(wc.fr.need))
		room := cap(b) - len(b)
		n, rerr := rawio.Read(wc.raw, b[len(b):cap(b)])
		b = b[:len(b)+n]
		budget -= n
		used, ok := wc.consume(b, false)
		if !ok {
			wc.stop(b)
			return
		}
		b = b[:copy(b, b[used:])]
		if rerr != nil {
			// The client closed the connection (or it failed) without a
			// close frame.
			wc.stop(b)
			c.finish(reasonTransportClose, 0)
			return
		}
		if len(b) == 0 {
			s.putReadBuf(wc.buf, b)
			wc.buf = nil
		} else {
			*wc.buf = b
		}
		if n < room {
			// The socket is empty, or nearly: a read that did not fill
			// the buffer took all there was, and arming the registration
			// (level-triggered) reports at once what came since. Reading
			// again only to be told EAGAIN would be a system call per
			// message.
			break
		}
	}
	if wc.paused() {
		return // the deliverer makes the task ready once the inbox drained
	}
	if err := reg.Arm(); err != nil {
		c.finish(reasonTransportError, 0)
	}
}

// stop ends reading for good and drops the buffer.
func (wc *wsConn) stop(b []byte) {
	wc.done = true
	if wc.buf != nil {
		wc.c.srv.putReadBuf(wc.buf, b[:0])
		wc.buf = nil
	}
}

// growFor returns b with room to read into: some room past what it holds
// and, for an incomplete frame at its start that needs need bytes in all,
// room that grows with the bytes that arrived (at most double what b
// holds, and never past need): a frame header declaring a megabyte
// reserves nothing until the megabyte arrives.
func growFor(b []byte, need int) []byte {
	want := len(b) + 512
	if need > want {
		want = min(need, max(2*len(b), readBufSize))
	}
	if cap(b) >= want {
		return b
	}
	nb := make([]byte, len(b), max(want, readBufSize))
	copy(nb, b)
	return nb
}

func (s *Server) getReadBuf() *[]byte {
	if p, ok := s.readPool.Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, 0, readBufSize)
	return &b
}

// putReadBuf returns a buffer (b: its current contents) to the pool when
// it has the pool's size.
func (s *Server) putReadBuf(p *[]byte, b []byte) {
	if cap(b) != readBufSize {
		return
	}
	*p = b[:0]
	s.readPool.Put(p)
}

// readLoop is the reader goroutine (without the poller): blocking reads
// until the connection fails or the session closes; handlers run here.
func (s *Server) readLoop(wc *wsConn, buffered []byte) {
	b := append(make([]byte, 0, max(1024, len(buffered))), buffered...)
	for {
		used, ok := wc.consume(b, true)
		if !ok {
			return
		}
		b = b[:copy(b, b[used:])]
		b = growFor(b, int(wc.fr.need))
		n, err := wc.nc.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if _, ok := wc.consume(b, true); ok {
				wc.c.finish(reasonTransportClose, 0)
			}
			return
		}
	}
}

// readEvent reads the next event (of at most max bytes) with blocking
// reads (the upgrade probe), buf holding what was read but not consumed;
// it returns the new buf. Control frames are returned as any event.
func (wc *wsConn) readEvent(buf []byte, max int64) (wsEvent, []byte, error) {
	for {
		ev, n, err := wc.fr.next(buf, max)
		buf = buf[:copy(buf, buf[n:])]
		if err != nil || ev.op != 0 {
			return ev, buf, err
		}
		buf = growFor(buf, int(wc.fr.need))
		k, err := wc.nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err != nil && k == 0 {
			return wsEvent{}, buf, err
		}
	}
}

// consume handles the complete frames at the start of b and returns how
// many bytes they took. Messages are handled at once when inline is set
// (the reader goroutine), else through the inbox. It reports false when
// reading must stop (the session closed, or the client broke the
// protocol and the connection was closed).
func (wc *wsConn) consume(b []byte, inline bool) (int, bool) {
	c := wc.c
	used := 0
	for {
		ev, n, err := wc.fr.next(b[used:], c.srv.cfg.MaxPayload)
		used += n
		if err != nil {
			code := uint16(closeProtocol)
			var fe *frameError
			if errors.As(err, &fe) {
				code = fe.code
			}
			c.closeWebSocket(wc, code, reasonTransportError)
			return used, false
		}
		switch ev.op {
		case 0:
			return used, true
		case opPing:
			c.sendCtl(opPong, append([]byte(nil), ev.data...))
		case opPong:
		case opClose:
			c.closeWebSocket(wc, closeNormal, reasonTransportClose)
			return used, false
		case opBinary:
			if !wc.handle(packet{typ: typeMessage, binary: true, data: ev.data}, inline) {
				return used, false
			}
		case opText:
			p, err := decodeText(ev.data)
			if err != nil {
				c.finish(reasonParseError, 0)
				return used, false
			}
			if !wc.handle(p, inline) {
				return used, false
			}
		}
	}
}

// handle processes one packet: at once when inline is set, or when it
// calls no handler and nothing waits before it (a pong); otherwise
// through the inbox and its deliverer goroutine. It reports false when
// the session is closed.
func (wc *wsConn) handle(p packet, inline bool) bool {
	c := wc.c
	if inline {
		return c.handlePacket(p)
	}
	c.mu.Lock()
	if p.typ != typeMessage && wc.in == nil {
		c.mu.Unlock()
		return c.handlePacket(p)
	}
	in := wc.in
	if in == nil {
		in = &inbox{}
		wc.in = in
		warm.Go(&c.srv.wg, wc.deliverLoop)
	}
	in.pkts = append(in.pkts, p)
	in.bytes += len(p.data)
	if in.bytes > int(c.srv.cfg.MaxPayload) {
		in.paused = true
	}
	c.mu.Unlock()
	return true
}

// paused reports whether the reader must wait for the deliverer.
func (wc *wsConn) paused() bool {
	wc.c.mu.Lock()
	defer wc.c.mu.Unlock()
	return wc.in != nil && wc.in.paused
}

// deliverLoop is the deliverer goroutine: it handles the inbox's packets
// in order, and ends when the inbox is empty (making the reader ready if
// it had paused).
func (wc *wsConn) deliverLoop() {
	c := wc.c
	for {
		c.mu.Lock()
		in := wc.in
		if len(in.pkts) == 0 {
			wc.in = nil
			c.mu.Unlock()
			if in.paused {
				wc.task.Ready()
			}
			return
		}
		p := in.pkts[0]
		in.pkts[0] = packet{}
		in.pkts = in.pkts[1:]
		in.bytes -= len(p.data)
		c.mu.Unlock()
		if !c.handlePacket(p) {
			c.mu.Lock()
			wc.in = nil // nothing more is delivered
			c.mu.Unlock()
			return
		}
	}
}

// closeWebSocket ends the session on a client's close frame or protocol
// error: it sends a close frame with code (best effort, unless a write is
// under way) and finishes the session with reason.
func (c *Conn) closeWebSocket(wc *wsConn, code uint16, reason closeReason) {
	c.mu.Lock()
	idle := !c.writing && c.state != stateClosed
	if idle {
		c.writing = true // nobody else writes: the session is over
	}
	c.mu.Unlock()
	if idle {
		sc := c.srv.getScratch()
		sc.assemble([]outItem{{ctl: opClose, data: binary.BigEndian.AppendUint16(nil, code)}}, true)
		if wc.raw != nil {
			_, _ = sc.rw.Writev(wc.raw, sc.g.Buffers())
		} else {
			_ = wc.nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = wc.nc.Write(sc.g.Buffers()[0])
		}
		c.srv.putScratch(sc)
	}
	c.finish(reason, 0)
}
