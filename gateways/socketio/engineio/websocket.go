package engineio

import (
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtbroker/rtbroker/gateways/internal/rawio"
)

// WebSocket opcodes written by the engine.
const (
	opText   = 1
	opBinary = 2
	opClose  = 8
	opPong   = 10
)

// wsConn is a WebSocket transport. Reading goes through gorilla's Conn
// (one goroutine); writing bypasses it: frames are assembled by the
// engine and handed to the net.Conn in one writev per batch, so queued
// messages cost one syscall and shared data is never copied (see
// wswrite.go).
type wsConn struct {
	ws  *websocket.Conn
	nc  net.Conn
	tcp bool            // nc supports writev
	raw syscall.RawConn // non-nil when the engine may write to the socket without blocking
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
	wc := &wsConn{ws: ws, nc: nc}
	if tc, ok := nc.(*net.TCPConn); ok {
		wc.tcp = true
		if rc, err := tc.SyscallConn(); err == nil && rawio.Supported {
			wc.raw = rc
		}
	}
	return wc, nil
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
			c.kickUnlock()
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

// maxFrameHeader is the longest header appendFrameHeader writes.
const maxFrameHeader = 10

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
