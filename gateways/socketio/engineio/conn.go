package engineio

import (
	"sync"
	"time"
)

// Message is one Engine.IO message: text (a UTF-8 string on the wire) or
// binary.
type Message struct {
	Data   []byte
	Binary bool
}

type connState uint8

const (
	stateOpen    connState = iota
	stateClosing           // Close called; flushing what is queued
	stateClosed
)

// Conn is one Engine.IO session (a "socket" in the Node.js server). It is
// safe for concurrent use. It outlives transport changes: a polling
// session upgraded to WebSocket keeps its Conn.
//
// Received messages are delivered to the callback set with OnMessage, one
// at a time and in order, on a goroutine of the server (the WebSocket
// reader, or the HTTP handler of a polling POST). The close callback set
// with OnClose runs once, after the last message callback has returned.
// Set both in the open callback given to NewServer: messages that arrive
// while no callback is set are dropped.
type Conn struct {
	srv *Server
	id  string
	req *Request

	release func() // called once, when the session leaves the server (Config.Admit)

	// recvMu serialises the message and close callbacks.
	recvMu sync.Mutex

	mu        sync.Mutex // guards the fields below
	state     connState
	websocket bool // the transport is the WebSocket (TransportWebSocket); else polling
	writing   bool // the writer role is taken: a sender writing inline, or the writer goroutine
	corked    bool // Cork: WebSocket writes wait for Uncork
	blocked   bool // a writer goroutine waits for the socket to take more (WebSocket)
	upgrading bool // a WebSocket upgrade is in progress
	probed    bool // the upgrade probe was answered: release the poll
	upgraded  bool
	polling   bool // a GET is waiting for packets
	posting   bool // a POST is being processed
	pollReply byte // packet answering a GET pending at close
	reason    closeReason
	hbIn      hbWhich // the heartbeat list c is in; guarded by srv.hb.mu (like the hb fields below)
	// handler is one interface, not two callbacks: a handler that is a
	// pointer (the Socket.IO client) costs no closure per connection.
	handler   Handler
	queue     []outItem // packets waiting for the transport
	spare     []outItem // a drained queue kept for reuse
	queued    int       // bytes in queue, counted against WriteBufferLimit
	drainWait *[]func() // Backlogged callers to wake once the queue is written; made by the first (most connections never fall behind)
	ws        *wsConn   // the WebSocket transport, once in use
	probe     *wsConn   // a WebSocket being upgraded to
	held      *heldGet  // the waiting GET when it is held off its request goroutine (see heldGet)
	wake      chan struct{}
	done      chan struct{} // made by Done, closed by finish
	wdl       int64         // the write deadline last set on the WebSocket (unix nanoseconds); owned by the writer role

	// Heartbeat bookkeeping, guarded by srv.hb.mu.
	hbPrev, hbNext *Conn
	hbAt           time.Duration // the deadline, since the heartbeat's base (see heartbeat.since)
}

// ID returns the session id (the "sid" of the handshake).
func (c *Conn) ID() string { return c.id }

// Request returns the handshake request's details. The result is shared
// and must not be modified.
func (c *Conn) Request() *Request { return c.req }

// Transport returns the current transport name, TransportPolling or
// TransportWebSocket.
func (c *Conn) Transport() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.websocket {
		return TransportWebSocket
	}
	return TransportPolling
}

// Done returns a channel closed when the session is closed. (It is made
// by the first call: a session nobody waits for has none.)
func (c *Conn) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.state == stateClosed {
			close(c.done)
		}
	}
	return c.done
}

// Reason returns why the session closed, or "" while it is open.
func (c *Conn) Reason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason.String()
}

// Handler receives what happens on a session (see SetHandler).
type Handler interface {
	// OnMessage is called for each received message. data belongs to the
	// handler (the engine never reuses it). It must not block for long:
	// it holds up the connection's reading.
	OnMessage(data []byte, binary bool)
	// OnClose is told, once, why the session closed (one of the Reason
	// constants). It runs on its own goroutine, after any OnMessage in
	// progress has returned.
	OnClose(reason string)
}

// SetHandler sets the handler of the session's messages and close,
// replacing what OnMessage and OnClose set.
func (c *Conn) SetHandler(h Handler) {
	c.mu.Lock()
	c.handler = h
	c.mu.Unlock()
}

// OnMessage sets the callback for received messages (Handler.OnMessage),
// keeping the close callback.
func (c *Conn) OnMessage(fn func(data []byte, binary bool)) {
	c.mu.Lock()
	f, _ := c.handler.(*funcHandler)
	c.handler = &funcHandler{message: fn, close: f.closeFn()}
	c.mu.Unlock()
}

// OnClose sets the callback told why the session closed
// (Handler.OnClose), keeping the message callback.
func (c *Conn) OnClose(fn func(reason string)) {
	c.mu.Lock()
	f, _ := c.handler.(*funcHandler)
	c.handler = &funcHandler{message: f.messageFn(), close: fn}
	c.mu.Unlock()
}

// funcHandler is the Handler of OnMessage and OnClose callbacks. It is
// never modified once set: each call makes a new one.
type funcHandler struct {
	message func(data []byte, binary bool)
	close   func(reason string)
}

func (f *funcHandler) OnMessage(data []byte, binary bool) {
	if f.message != nil {
		f.message(data, binary)
	}
}

func (f *funcHandler) OnClose(reason string) {
	if f.close != nil {
		f.close(reason)
	}
}

func (f *funcHandler) messageFn() func([]byte, bool) {
	if f == nil {
		return nil
	}
	return f.message
}

func (f *funcHandler) closeFn() func(string) {
	if f == nil {
		return nil
	}
	return f.close
}

// Send queues messages to be written in order, contiguously (no other
// Send interleaves with them). It never blocks on the network: on a
// WebSocket whose queue is empty (Linux, TCP), Send writes the messages
// itself with a non-blocking write, and leaves what the socket does not
// take at once to a writer goroutine, as it does everything on other
// connections.
//
// The engine keeps each Data slice, without copying, until it has been
// written: the caller must not modify it afterwards. The same slice may be
// passed to any number of connections, which is how a broadcast is
// encoded once.
//
// Send returns ErrClosed when the session is closed or closing, and
// ErrSlowClient (after closing the session with ReasonSlowClient) when the
// queued bytes would exceed Config.WriteBufferLimit.
func (c *Conn) Send(msgs ...Message) error {
	size := 0
	for _, m := range msgs {
		size += len(m.Data) + itemOverhead
	}
	c.mu.Lock()
	if err := c.admit(size); err != nil {
		return err
	}
	for _, m := range msgs {
		c.queue = append(c.queue, outItem{typ: typeMessage, binary: m.Binary, data: m.Data})
	}
	c.queued += size
	c.kickUnlock()
	return nil
}

// SendText queues text messages, in order and contiguously; see Send for
// ownership and errors.
func (c *Conn) SendText(data ...[]byte) error {
	size := 0
	for _, d := range data {
		size += len(d) + itemOverhead
	}
	c.mu.Lock()
	if err := c.admit(size); err != nil {
		return err
	}
	for _, d := range data {
		c.queue = append(c.queue, outItem{typ: typeMessage, data: d})
	}
	c.queued += size
	c.kickUnlock()
	return nil
}

// admit checks that size more bytes may be queued. Called with mu held;
// on error it has released mu (and closed a slow client's session).
func (c *Conn) admit(size int) error {
	if c.state != stateOpen {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.queued > 0 && c.queued+size > c.srv.cfg.WriteBufferLimit {
		c.mu.Unlock()
		c.finish(reasonSlowClient, typeClose)
		return ErrSlowClient
	}
	return nil
}

// Backlogged reports whether the connection is behind its client: a
// WebSocket whose socket took less than was written (a writer waits for
// it), or queued bytes above a quarter of Config.WriteBufferLimit. When it
// is, wake is called once, when what is queued has been written (or the
// session closed). A sender with more to send at its own pace (a catch-up
// read) waits for that instead of queueing up to the limit, which would
// close a client that only reads slower than the server can send. Safe
// for concurrent use.
func (c *Conn) Backlogged(wake func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateClosed || !c.blocked && c.queued <= c.srv.cfg.WriteBufferLimit/4 {
		return false
	}
	if c.drainWait == nil {
		c.drainWait = new([]func())
	}
	*c.drainWait = append(*c.drainWait, wake)
	return true
}

// takeDrainWait returns the Backlogged callers to wake and forgets them.
// Called with mu held; the caller runs them (runAll) after releasing it.
func (c *Conn) takeDrainWait() []func() {
	if c.drainWait == nil {
		return nil
	}
	w := *c.drainWait
	*c.drainWait = nil
	return w
}

func runAll(fns []func()) {
	for _, fn := range fns {
		fn()
	}
}

// SendBinary queues one binary message; see Send for ownership and errors.
func (c *Conn) SendBinary(data []byte) error {
	return c.Send(Message{Data: data, Binary: true})
}

// Close closes the session gracefully: what is already queued is written
// first, then the client is told (a close packet on polling, a close frame
// on WebSocket) and the close callback runs with ReasonForcedClose. A
// polling session whose client is not polling closes at its next request
// or heartbeat deadline. Close does not wait and is idempotent.
func (c *Conn) Close() {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return
	}
	c.state = stateClosing
	if c.websocket {
		c.queue = append(c.queue, outItem{ctl: opClose})
		c.kickUnlock()
		return
	}
	c.signalPoll()
	c.mu.Unlock()
}

// kickUnlock makes the transport take the queue and releases mu (held by
// the caller). A WebSocket whose writer role is free is written at once,
// without blocking, by the caller (see writeInline) when its socket
// allows; otherwise a writer goroutine starts.
func (c *Conn) kickUnlock() {
	if !c.websocket {
		c.signalPoll()
		c.mu.Unlock()
		return
	}
	if c.writing || c.corked || c.ws == nil || len(c.queue) == 0 {
		c.mu.Unlock()
		return
	}
	c.writing = true
	if c.ws.raw == nil {
		c.startWriter()
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.writeInline()
}

// Cork holds back the WebSocket writes of what is sent from now on until
// Uncork, which writes it all at once: messages sent in a row by different
// callers then cost the connection one write (one writev syscall, one
// wake-up of the client) instead of one each. Nothing is lost or
// reordered meanwhile; the write buffer limit applies as usual, heartbeats
// and Close are queued too. The caller must call Uncork soon, on the same
// goroutine: a corked connection writes nothing. Only a writer that has
// not started is held (a batch being written goes on), and a polling
// transport is not held. Calls do not nest. Safe for concurrent use with
// the other methods.
func (c *Conn) Cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// Uncork ends Cork and writes what was queued meanwhile (see Send: without
// blocking on the network).
func (c *Conn) Uncork() {
	c.mu.Lock()
	c.corked = false
	c.kickUnlock()
}

// signalPoll wakes a waiting GET. Called with mu held.
func (c *Conn) signalPoll() {
	if c.polling {
		if c.held != nil {
			c.held.task.Ready()
			return
		}
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// takeQueue detaches the queue. Called with mu held.
func (c *Conn) takeQueue() []outItem {
	items := c.queue
	c.queue, c.spare = c.spare, nil
	c.queued = 0
	return items
}

// recycle keeps a drained queue for reuse unless it grew large: as the
// queue itself when that has no array (the usual case: what a sender
// queued was written at once, and nothing came meanwhile), as the spare
// when more was queued meanwhile. An idle connection keeps one array, not
// two.
func (c *Conn) recycle(items []outItem) {
	if cap(items) > 256 {
		return
	}
	clear(items)
	c.mu.Lock()
	switch {
	case c.state == stateClosed:
	case cap(c.queue) == 0:
		c.queue = items[:0]
	case len(c.queue) > 0 && c.spare == nil:
		c.spare = items[:0]
	}
	c.mu.Unlock()
}

// sendPing queues a ping packet (heartbeat goroutine). A session that is
// closing finishes instead: its client did not come back to be told.
func (c *Conn) sendPing() {
	c.mu.Lock()
	switch c.state {
	case stateClosed:
		c.mu.Unlock()
		return
	case stateClosing:
		c.mu.Unlock()
		c.finish(reasonForcedClose, typeClose)
		return
	}
	c.queue = append(c.queue, outItem{typ: typePing})
	c.queued += itemOverhead
	c.kickUnlock()
}

// sendCtl queues a WebSocket control frame; control frames are not
// counted against the write buffer limit.
func (c *Conn) sendCtl(op byte, data []byte) {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	c.queue = append(c.queue, outItem{ctl: op, data: data})
	c.kickUnlock()
}

// handlePacket processes one packet from the client. It reports false
// when the session is closed and the transport must stop reading.
func (c *Conn) handlePacket(p packet) bool {
	switch p.typ {
	case typeMessage:
		c.deliver(p.data, p.binary)
	case typePong:
		c.mu.Lock()
		open := c.state != stateClosed
		c.mu.Unlock()
		if open {
			c.srv.hb.schedulePing(c)
		}
	case typeClose:
		c.finish(reasonTransportClose, typeNoop)
		return false
	case typePing:
		// Protocol v4: only the server pings.
		c.finish(reasonTransportError, typeClose)
		return false
	}
	// open, upgrade and noop packets from the client are ignored.
	c.mu.Lock()
	open := c.state != stateClosed
	c.mu.Unlock()
	return open
}

func (c *Conn) deliver(data []byte, binary bool) {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	c.mu.Lock()
	h, open := c.handler, c.state != stateClosed
	c.mu.Unlock()
	if open && h != nil {
		h.OnMessage(data, binary)
	}
}

// finish closes the session now: transports are closed, a pending GET is
// answered with reply (typeClose or typeNoop), the session leaves the
// server, and the close callback is scheduled. Idempotent.
func (c *Conn) finish(reason closeReason, reply byte) {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	c.state = stateClosed
	c.reason = reason
	c.pollReply = reply
	ws, probe := c.ws, c.probe
	c.queue, c.spare, c.queued = nil, nil, 0
	c.signalPoll()
	if c.done != nil {
		close(c.done)
	}
	h := c.handler
	wake := c.takeDrainWait()
	c.mu.Unlock()
	runAll(wake)

	c.srv.remove(c)
	c.srv.log.Debug("engineio: session closed", "sid", c.id, "reason", reason.String())
	if ws != nil {
		ws.close()
	}
	if probe != nil {
		probe.close()
	}
	if h != nil {
		c.srv.wg.Go(func() {
			c.recvMu.Lock()
			defer c.recvMu.Unlock()
			h.OnClose(reason.String())
		})
	}
}
