package protocol

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
)

// client is the Socket.IO side of one engine connection: its decoder and
// its sockets, one per connected namespace.
type client struct {
	srv  *Server
	conn *engineio.Conn
	dec  Decoder // used only by the engine's message callback

	mu sync.Mutex // guards the fields below
	// sockets has one socket per connected namespace (a slice: most
	// clients use one, in first); nil once the connection closed (a
	// closed flag would take the client to the next size class).
	sockets []*Socket
	first   [1]*Socket  // the array of sockets until a second namespace connects
	timer   *time.Timer // connect timeout, nil once a namespace connected
}

// closed reports whether the connection closed. Called with mu held.
func (c *client) closed() bool { return c.sockets == nil }

// socket returns the socket of namespace nsp, or nil. Called with mu held.
func (c *client) socket(nsp string) *Socket {
	for _, s := range c.sockets {
		if s.nsp.name == nsp {
			return s
		}
	}
	return nil
}

// onOpen wires a new engine connection.
func (s *Server) onOpen(conn *engineio.Conn) {
	c := &client{
		srv:  s,
		conn: conn,
		dec:  Decoder{MaxAttachments: s.cfg.MaxAttachments},
	}
	c.sockets = c.first[:0]
	c.mu.Lock()
	c.timer = time.AfterFunc(s.cfg.ConnectTimeout, c.connectTimeout)
	c.mu.Unlock()
	conn.SetHandler(c) // c is a pointer: no closure per connection
}

func (c *client) connectTimeout() {
	c.mu.Lock()
	expired := c.timer != nil && len(c.sockets) == 0
	c.mu.Unlock()
	if expired {
		c.conn.Close()
	}
}

// OnMessage is the engine connection's message handler.
func (c *client) OnMessage(data []byte, binary bool) {
	p, err := c.dec.Decode(data, binary)
	if err != nil {
		c.srv.log.Debug("socketio: closing connection on invalid packet", "sid", c.conn.ID(), "err", err)
		c.conn.Close()
		return
	}
	if p == nil {
		return
	}
	c.mu.Lock()
	sock := c.socket(p.Namespace)
	c.mu.Unlock()
	switch {
	case sock == nil && p.Type == PacketConnect:
		c.connect(p)
	case sock != nil && p.Type != PacketConnect && p.Type != PacketConnectError:
		sock.onPacket(p)
	default:
		c.conn.Close()
	}
}

// connect runs a CONNECT: namespace lookup, middleware, then the answer
// and the connect handlers.
func (c *client) connect(p *Packet) {
	nsp := c.srv.namespace(p.Namespace)
	if nsp == nil {
		c.sendPacket(AppendHeader(nil, PacketConnectError, 0, p.Namespace, false, 0), []byte(`{"message":"Invalid namespace"}`))
		return
	}
	s := &Socket{
		id:     newID(),
		nsp:    nsp,
		client: c,
		auth:   &p.Data, // the packet's: nothing copied (nil Data: Auth says "{}")
	}
	middlewares, onConnect := nsp.handlers()
	for _, mw := range middlewares {
		if err := mw(s); err != nil {
			if errors.Is(err, ErrReconnect) {
				c.conn.Close()
				return
			}
			c.sendPacket(AppendHeader(nil, PacketConnectError, 0, nsp.name, false, 0), connectErrorPayload(err))
			return
		}
	}
	// The socket becomes connected with the client's lock held, so that
	// the engine closing meanwhile either finds it connected (and
	// disconnects it) or is seen here (and the connect is aborted).
	nsp.mu.Lock()
	nsp.sockets[s.id] = s
	nsp.mu.Unlock()
	c.mu.Lock()
	if c.closed() {
		c.mu.Unlock()
		c.remove(s)
		s.abort("transport close")
		return
	}
	c.sockets = append(c.sockets, s)
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	s.mu.Lock()
	s.connected = true
	s.mu.Unlock()
	c.mu.Unlock()
	payload := append([]byte(`{"sid":`), AppendString(nil, s.id)...)
	if s.pid != "" {
		payload = append(payload, `,"pid":`...)
		payload = AppendString(payload, s.pid)
	}
	payload = append(payload, '}')
	// What the connect handlers send at once (a recovered session's missed
	// packets) goes out with the answer, in one write.
	c.conn.Cork()
	defer c.conn.Uncork()
	c.sendPacket(AppendHeader(nil, PacketConnect, 0, nsp.name, false, 0), payload)
	for _, fn := range onConnect {
		fn(s)
	}
	s.auth = nil // see Auth
}

func (c *client) sendPacket(header, payload []byte) {
	_ = c.conn.SendText(append(header, payload...))
}

// remove forgets the socket of a namespace.
func (c *client) remove(s *Socket) {
	c.mu.Lock()
	for i, x := range c.sockets {
		if x == s {
			c.sockets = slices.Delete(c.sockets, i, i+1)
			break
		}
	}
	c.mu.Unlock()
	s.nsp.mu.Lock()
	if s.nsp.sockets[s.id] == s {
		delete(s.nsp.sockets, s.id)
	}
	s.nsp.mu.Unlock()
}

// OnClose, the engine connection's close handler, disconnects every
// socket of the closed connection.
func (c *client) OnClose(reason string) {
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	socks := slices.Clone(c.sockets)
	c.sockets = nil // closed
	c.mu.Unlock()
	c.dec.Reset()
	for _, s := range socks {
		s.onClose(reason)
	}
}

// newID returns a random 20-character URL-safe id.
func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
