package engineio

import (
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// WebSocket opcodes written by the engine.
const (
	opText   = 1
	opBinary = 2
	opClose  = 8
	opPong   = 10
)

// inlineMax is the size under which message data is copied next to its
// frame header instead of getting its own iovec.
const inlineMax = 512

// wsConn is a WebSocket transport. Reading goes through gorilla's Conn
// (one goroutine); writing bypasses it: frames are assembled by the
// engine and handed to the net.Conn in one writev per batch, so queued
// messages cost one syscall and shared data is never copied.
type wsConn struct {
	ws  *websocket.Conn
	nc  net.Conn
	tcp bool // nc supports writev
}

// frameScratch holds the buffers of one batch write.
type frameScratch struct {
	hdr  []byte
	segs []segment
	bufs net.Buffers
}

// segment is a run of hdr (data == nil) or an external data slice.
type segment struct {
	off, end int
	data     []byte
}

func (s *Server) accept(w http.ResponseWriter, r *http.Request) (*wsConn, error) {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(s.cfg.MaxPayload)
	// All writes go through the engine's writer: gorilla must not answer
	// pings or close frames on its own.
	ws.SetPingHandler(func(string) error { return nil })
	ws.SetCloseHandler(func(int, string) error { return nil })
	nc := ws.NetConn()
	_, tcp := nc.(*net.TCPConn)
	return &wsConn{ws: ws, nc: nc, tcp: tcp}, nil
}

// handshakeWebSocket opens a WebSocket-only session and reads it until it
// closes.
func (s *Server) handshakeWebSocket(w http.ResponseWriter, r *http.Request, release func()) {
	wc, err := s.accept(w, r)
	if err != nil {
		release()
		return
	}
	c := s.newConn(r, TransportWebSocket, release)
	c.ws = wc
	open := appendOpen(nil, c.id, s.upgrades(TransportWebSocket), &s.cfg)
	if _, err := s.writeFrames(wc, []outItem{{typ: typeOpen, data: open[1:]}}); err != nil {
		_ = wc.nc.Close()
		release()
		return
	}
	if !s.open(c) {
		_ = wc.nc.Close()
		return
	}
	s.goRead(c, wc)
}

// upgradeSession runs the upgrade of polling session c to WebSocket: it
// answers "2probe" with "3probe", releases the pending GET, and switches
// transports on "5". A failed upgrade leaves the session on polling.
func (s *Server) upgradeSession(w http.ResponseWriter, r *http.Request, c *Conn) {
	c.mu.Lock()
	if c.state != stateOpen || c.transport != TransportPolling || c.upgrading || c.upgraded {
		c.mu.Unlock()
		// Like the Node.js server: accept, then close at once.
		if wc, err := s.accept(w, r); err == nil {
			_ = wc.nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = s.writeFrames(wc, []outItem{{ctl: opClose}})
			_ = wc.nc.Close()
		}
		return
	}
	c.upgrading = true // one upgrade at a time
	c.mu.Unlock()

	wc, err := s.accept(w, r)
	if err != nil {
		s.abortUpgrade(c, nil)
		return
	}
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		_ = wc.nc.Close()
		return
	}
	c.probe = wc
	c.mu.Unlock()

	_ = wc.nc.SetReadDeadline(time.Now().Add(s.cfg.UpgradeTimeout))
	for {
		mt, data, err := wc.ws.ReadMessage()
		if err != nil || mt != websocket.TextMessage {
			s.abortUpgrade(c, wc)
			return
		}
		switch string(data) {
		case "2probe":
			if _, err := s.writeFrames(wc, []outItem{{typ: typePong, data: data[1:]}}); err != nil {
				s.abortUpgrade(c, wc)
				return
			}
			c.mu.Lock()
			c.probed = true
			c.signalPoll()
			c.mu.Unlock()
		case "5":
			_ = wc.nc.SetReadDeadline(time.Time{})
			c.mu.Lock()
			if c.state == stateClosed {
				c.mu.Unlock()
				_ = wc.nc.Close()
				return
			}
			c.transport = TransportWebSocket
			c.ws, c.probe = wc, nil
			c.upgraded, c.upgrading = true, false
			c.signalPoll()
			if c.state == stateClosing {
				c.queue = append(c.queue, outItem{ctl: opClose})
			}
			c.kick()
			c.mu.Unlock()
			s.goRead(c, wc)
			return
		default:
			s.abortUpgrade(c, wc)
			return
		}
	}
}

// abortUpgrade closes the probing WebSocket; the session stays on polling.
func (s *Server) abortUpgrade(c *Conn, wc *wsConn) {
	c.mu.Lock()
	c.probe = nil
	c.probed, c.upgrading = false, false
	c.mu.Unlock()
	if wc != nil {
		_ = wc.nc.Close()
	}
}

// goRead hands the connection to a reader goroutine owned by the server
// and lets the HTTP handler return: net/http then drops its per-request
// state (request, response and write buffers) for the connection's whole
// life, which makes an idle WebSocket session several KiB cheaper.
func (s *Server) goRead(c *Conn, wc *wsConn) {
	s.wg.Go(func() { s.readLoop(c, wc) })
}

// readLoop reads the WebSocket transport of c until it fails or the
// session closes.
func (s *Server) readLoop(c *Conn, wc *wsConn) {
	wc.ws.SetPingHandler(func(data string) error {
		c.sendCtl(opPong, []byte(data))
		return nil
	})
	for {
		mt, data, err := wc.ws.ReadMessage()
		if err != nil {
			reason := ReasonTransportClose
			var ce *websocket.CloseError
			switch {
			case errors.As(err, &ce):
				// Answer the close handshake, best effort.
				_ = wc.nc.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = s.writeFrames(wc, []outItem{{ctl: opClose}})
			case errors.Is(err, websocket.ErrReadLimit):
				reason = ReasonTransportError
			}
			c.finish(reason, 0)
			return
		}
		if mt == websocket.BinaryMessage {
			c.deliver(data, true)
			continue
		}
		p, err := decodeText(data)
		if err != nil {
			c.finish(ReasonParseError, 0)
			return
		}
		if !c.handlePacket(p) {
			return
		}
	}
}

// writeLoop is the WebSocket writer goroutine of c: it runs while c has
// queued packets, writing each batch in one syscall.
func (c *Conn) writeLoop() {
	for {
		c.mu.Lock()
		if c.state == stateClosed || len(c.queue) == 0 {
			c.writing = false
			c.mu.Unlock()
			return
		}
		items := c.takeQueue()
		wc := c.ws
		c.mu.Unlock()

		_ = wc.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
		closed, err := c.srv.writeFrames(wc, items)
		c.recycle(items)
		if err != nil {
			c.finish(ReasonTransportError, 0)
			return
		}
		if closed {
			c.finish(ReasonForcedClose, 0)
			return
		}
	}
}

// writeFrames writes items as WebSocket frames in one writev (one Write
// when the connection is not TCP). It stops after a close frame and
// reports it.
func (s *Server) writeFrames(wc *wsConn, items []outItem) (closed bool, err error) {
	sc, _ := s.scratchPool.Get().(*frameScratch)
	if sc == nil {
		sc = &frameScratch{hdr: make([]byte, 0, 1024)}
	}
	hdr, segs := sc.hdr[:0], sc.segs[:0]
	start := 0
	for _, it := range items {
		var op byte
		var prefix []byte
		data := it.data
		switch {
		case it.ctl == opClose:
			op, data = opClose, []byte{0x03, 0xe8} // 1000 normal closure
			closed = true
		case it.ctl != 0:
			op = it.ctl
		case it.binary:
			op = opBinary
		default:
			op = opText
			prefix = []byte{it.typ}
		}
		hdr = appendFrameHeader(hdr, op, len(prefix)+len(data))
		hdr = append(hdr, prefix...)
		if len(data) <= inlineMax || !wc.tcp {
			hdr = append(hdr, data...)
		} else {
			segs = append(segs, segment{off: start, end: len(hdr)}, segment{data: data})
			start = len(hdr)
		}
		if closed {
			break
		}
	}
	if start < len(hdr) {
		segs = append(segs, segment{off: start, end: len(hdr)})
	}
	if len(segs) == 1 {
		_, err = wc.nc.Write(hdr)
	} else {
		bufs := sc.bufs[:0]
		for _, sg := range segs {
			if sg.data != nil {
				bufs = append(bufs, sg.data)
			} else {
				bufs = append(bufs, hdr[sg.off:sg.end])
			}
		}
		sc.bufs = bufs
		_, err = bufs.WriteTo(wc.nc)
	}
	clear(segs)
	clear(sc.bufs[:cap(sc.bufs)])
	if cap(hdr) <= 64<<10 {
		sc.hdr, sc.segs = hdr[:0], segs[:0]
		s.scratchPool.Put(sc)
	}
	return closed, err
}

// appendFrameHeader appends an unmasked, final frame header.
func appendFrameHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		return append(dst, byte(n))
	case n <= 0xffff:
		dst = append(dst, 126)
		return binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 127)
		return binary.BigEndian.AppendUint64(dst, uint64(n))
	}
}
