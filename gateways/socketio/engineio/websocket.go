package engineio

import (
	"encoding/binary"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/rtbroker/rtbroker/gateways/internal/rawio"
)

// wsConn is a WebSocket transport. The engine answers the handshake
// (upgrade.go) and reads and writes the frames itself. Reading
// (wsread.go): on Linux an idle connection is watched by the server's
// epoll poller and read, when it has data, by a task of the server's pump
// pool, without a goroutine or a buffer of its own; elsewhere, or for a
// connection that is not TCP, a goroutine reads it. Writing (wswrite.go):
// frames are assembled by the engine and written in one writev per batch,
// without blocking from the sender when the socket takes them at once, so
// queued messages cost one syscall and shared data is never copied.
type wsConn struct {
	nc  net.Conn
	raw syscall.RawConn // non-nil when the engine may read and write the socket without blocking

	wsReader      // the reading side, once the session reads it
	tcp      bool // nc supports writev
	done     bool // owned by the reader: it stopped for good (here, not in wsReader: it shares tcp's word)
}

func (s *Server) accept(w http.ResponseWriter, r *http.Request, first []byte) (*wsConn, error) {
	nc, err := s.upgrade(w, r, first)
	if err != nil {
		return nil, err
	}
	wc := &wsConn{nc: nc}
	if tc, ok := rawio.TCP(nc); ok {
		wc.tcp = true
		if rc, err := tc.SyscallConn(); err == nil && rawio.Supported {
			wc.raw = rc
		}
	}
	return wc, nil
}

// handshakeWebSocket opens a WebSocket-only session and starts reading it.
func (s *Server) handshakeWebSocket(w http.ResponseWriter, r *http.Request, release func()) {
	c := s.newConn(r, TransportWebSocket, release)
	// The open packet goes out with the 101 response, in one write.
	open := appendOpen(make([]byte, 0, 192), c.id, s.upgrades(TransportWebSocket), &s.cfg)
	var h [maxFrameHeader]byte
	first := append(appendFrameHeader(h[:0], opText, len(open)), open...)
	wc, err := s.accept(w, r, first)
	if err != nil {
		release()
		return
	}
	c.ws = wc
	if !s.open(c) {
		_ = wc.nc.Close()
		return
	}
	s.startReading(c, wc, nil)
}

// upgradeSession runs the upgrade of polling session c to WebSocket: it
// answers "2probe" with "3probe", releases the pending GET, and switches
// transports on "5". A failed upgrade leaves the session on polling.
func (s *Server) upgradeSession(w http.ResponseWriter, r *http.Request, c *Conn) {
	c.mu.Lock()
	if c.state != stateOpen || c.websocket || c.upgrading || c.upgraded {
		c.mu.Unlock()
		// Like the Node.js server: accept, then close at once.
		if wc, err := s.accept(w, r, nil); err == nil {
			_ = wc.nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = s.writeFrames(wc, []outItem{{ctl: opClose}})
			_ = wc.nc.Close()
		}
		return
	}
	c.upgrading = true // one upgrade at a time
	c.mu.Unlock()

	wc, err := s.accept(w, r, nil)
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
	var buf []byte
	for {
		var ev wsEvent
		ev, buf, err = wc.readEvent(buf, s.cfg.MaxPayload)
		if err != nil || ev.op != opText {
			s.abortUpgrade(c, wc)
			return
		}
		switch string(ev.data) {
		case "2probe":
			if _, err := s.writeFrames(wc, []outItem{{typ: typePong, data: ev.data[1:]}}); err != nil {
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
			c.websocket = true
			c.ws, c.probe = wc, nil
			c.upgraded, c.upgrading = true, false
			c.signalPoll()
			if c.state == stateClosing {
				c.queue = append(c.queue, outItem{ctl: opClose})
			}
			c.kickUnlock()
			// What the client sent after "5" is in buf: the reader starts
			// there.
			s.startReading(c, wc, buf)
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
