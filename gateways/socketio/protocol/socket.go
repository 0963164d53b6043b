package protocol

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/rtbroker/rtbroker/gateways/socketio/engineio"
)

// Errors of Socket and Event methods.
var (
	// ErrNotConnected is returned when writing to a socket that is not (or
	// no longer) connected.
	ErrNotConnected = errors.New("socketio: socket not connected")
	// ErrNoAck is returned by Event.Ack when the client asked for none.
	ErrNoAck = errors.New("socketio: event has no acknowledgement")
	// ErrAcked is returned by Event.Ack the second time.
	ErrAcked = errors.New("socketio: event already acknowledged")
	// ErrDisconnected is returned by EmitWithAck when the socket
	// disconnects before the acknowledgement arrives.
	ErrDisconnected = errors.New("socketio: socket disconnected")
)

// Socket is a client connected to one namespace. It is safe for
// concurrent use.
//
// Handlers (SetHandler, or OnEvent and OnDisconnect) run on the connection's reading
// goroutine, one at a time and in arrival order; a handler that blocks
// holds up that connection only. Install them in the namespace's
// OnConnect handler.
type Socket struct {
	id     string
	nsp    *Namespace
	client *client
	auth   *json.RawMessage // the CONNECT packet's payload, until the connect handlers have run (see Auth)

	// Set by middleware before the CONNECT answer; read-only afterwards.
	pid       string
	recovered bool

	// Guarded by mu (beside recovered and before mu: the small fields
	// fill one word, which keeps a Socket in the 96-byte size class).
	connected bool

	mu      sync.Mutex // guards connected and the fields below
	nextAck uint32     // the id of the next EmitWithAck (wraps after 2³² acks)
	// handler is one interface, not two callbacks: a handler that is a
	// pointer costs no closure per socket.
	handler Handler
	acks    map[uint64]chan ackResult
}

// Handler receives what happens on a socket (see SetHandler).
type Handler interface {
	// OnEvent handles an event the client emits.
	OnEvent(ev *Event)
	// OnDisconnect is told, once, why the socket disconnected (see
	// Socket.OnDisconnect).
	OnDisconnect(reason string)
}

// funcHandler is the Handler of OnEvent and OnDisconnect callbacks. It is
// never modified once set: each call makes a new one.
type funcHandler struct {
	event      func(*Event)
	disconnect func(reason string)
}

func (f *funcHandler) OnEvent(ev *Event) {
	if f.event != nil {
		f.event(ev)
	}
}

func (f *funcHandler) OnDisconnect(reason string) {
	if f.disconnect != nil {
		f.disconnect(reason)
	}
}

func (f *funcHandler) eventFn() func(*Event) {
	if f == nil {
		return nil
	}
	return f.event
}

func (f *funcHandler) disconnectFn() func(string) {
	if f == nil {
		return nil
	}
	return f.disconnect
}

type ackResult struct {
	args []json.RawMessage
	err  error
}

// ID returns the socket id, sent to the client in the CONNECT answer.
func (s *Socket) ID() string { return s.id }

// Namespace returns the namespace name.
func (s *Socket) Namespace() string { return s.nsp.name }

// Auth returns the CONNECT payload (the client's auth object, plus pid
// and offset when the client attempts a recovery), "{}" when absent. It
// must not be modified. It is for the namespace's middleware and connect
// handlers, on the connection's reading goroutine: once they have run,
// the socket lets go of it (an idle socket keeps no copy) and Auth
// returns "{}".
func (s *Socket) Auth() json.RawMessage {
	if s.auth == nil || *s.auth == nil {
		return json.RawMessage(`{}`)
	}
	return *s.auth
}

// Request returns the engine handshake request (headers, query, remote
// address). It must not be modified.
func (s *Socket) Request() *engineio.Request { return s.client.conn.Request() }

// Conn returns the engine connection, shared by the sockets of all the
// namespaces the client connected to.
func (s *Socket) Conn() *engineio.Conn { return s.client.conn }

// Restore makes the socket reuse the id of a previous session (connection
// state recovery). Call it from middleware only; the socket then reports
// Recovered. The caller is responsible for the missed events (emit them
// from an OnConnect handler).
func (s *Socket) Restore(sid string) {
	s.id = sid
	s.recovered = true
}

// SetPID sets the private session id that the CONNECT answer carries
// ({"sid":…,"pid":…}); socket.io-client then sends it back, with the last
// offset it received, when it reconnects, and reports recovered = true
// when the answer carries the same pid. Call it from middleware only.
func (s *Socket) SetPID(pid string) { s.pid = pid }

// PID returns the private session id, "" when none was set.
func (s *Socket) PID() string { return s.pid }

// Recovered reports whether Restore was called.
func (s *Socket) Recovered() bool { return s.recovered }

// Connected reports whether the socket is connected.
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// SetHandler sets the handler of the socket's events and disconnect,
// replacing what OnEvent and OnDisconnect set. Like OnDisconnect, a
// middleware may set it (the client's events come only after the
// CONNECT is answered and the connect handlers have run).
func (s *Socket) SetHandler(h Handler) {
	s.mu.Lock()
	s.handler = h
	s.mu.Unlock()
}

// Handler returns the socket's handler: what SetHandler set, nil when
// none was set (or the socket's CONNECT was aborted), and an adapter after
// OnEvent or OnDisconnect.
func (s *Socket) Handler() Handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handler
}

// OnEvent sets the handler of every event the client emits
// (Handler.OnEvent), keeping the disconnect handler.
func (s *Socket) OnEvent(fn func(ev *Event)) {
	s.mu.Lock()
	f, _ := s.handler.(*funcHandler)
	s.handler = &funcHandler{event: fn, disconnect: f.disconnectFn()}
	s.mu.Unlock()
}

// OnDisconnect sets the handler told, once, why the socket disconnected:
// "client namespace disconnect", "server namespace disconnect", or the
// engine's close reason ("transport close", "ping timeout", "transport
// error", "parse error", "forced close", "slow client"). A middleware may
// set it: when the connection closes before the CONNECT is answered, it
// runs then (with "transport close"), so what the middleware set up is
// released.
func (s *Socket) OnDisconnect(fn func(reason string)) {
	s.mu.Lock()
	f, _ := s.handler.(*funcHandler)
	s.handler = &funcHandler{event: f.eventFn(), disconnect: fn}
	s.mu.Unlock()
}

// Emit sends an event. Arguments are JSON-encoded (json.RawMessage
// verbatim, strings and numbers directly, others with encoding/json
// without HTML escaping); a top-level []byte argument becomes a binary
// attachment, and the caller must not modify it afterwards. It returns
// ErrNotConnected, an encoding error, or the engine's send error
// (engineio.ErrClosed, engineio.ErrSlowClient).
func (s *Socket) Emit(event string, args ...any) error {
	if !s.Connected() {
		return ErrNotConnected
	}
	text, atts, err := appendEvent(nil, s.nsp.name, false, 0, event, args)
	if err != nil {
		return err
	}
	return s.send(text, atts)
}

// EmitWithAck sends an event asking for an acknowledgement and waits for
// it. It returns the acknowledgement's arguments (binary placeholders kept
// verbatim), or ctx's error wrapped when ctx ends first (with
// Config.AckTimeout applied when ctx has no deadline), or
// ErrDisconnected.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.nsp.srv.cfg.AckTimeout)
		defer cancel()
	}
	ch := make(chan ackResult, 1)
	s.mu.Lock()
	if !s.connected {
		s.mu.Unlock()
		return nil, ErrNotConnected
	}
	id := uint64(s.nextAck)
	s.nextAck++
	if s.acks == nil {
		s.acks = make(map[uint64]chan ackResult)
	}
	s.acks[id] = ch
	s.mu.Unlock()
	drop := func() {
		s.mu.Lock()
		delete(s.acks, id)
		s.mu.Unlock()
	}

	text, atts, err := appendEvent(nil, s.nsp.name, true, id, event, args)
	if err == nil {
		err = s.send(text, atts)
	}
	if err != nil {
		drop()
		return nil, err
	}
	select {
	case r := <-ch:
		return r.args, r.err
	case <-ctx.Done():
		drop()
		return nil, fmt.Errorf("socketio: waiting for the ack of %q: %w", event, ctx.Err())
	}
}

// WriteRaw writes packets encoded by EncodeEvent (for this socket's
// namespace), in order and together (one write when the transport
// allows), without copying them: the same bytes may be written to any
// number of sockets, and must not be modified afterwards. A packet with
// binary attachments (a multi-frame packet, see EncodeEvent) is written
// as its text message followed by its attachments as binary messages. It
// never blocks on the network. It returns ErrNotConnected or the engine's
// send error.
func (s *Socket) WriteRaw(packets ...[]byte) error {
	if !s.Connected() {
		return ErrNotConnected
	}
	frames := 0
	for _, p := range packets {
		if IsFrames(p) {
			frames++
		}
	}
	if frames == 0 {
		return s.client.conn.SendText(packets...)
	}
	msgs := make([]engineio.Message, 0, len(packets)+2*frames)
	for _, p := range packets {
		if IsFrames(p) {
			msgs = AppendFrames(msgs, p)
		} else {
			msgs = append(msgs, engineio.Message{Data: p})
		}
	}
	return s.client.conn.Send(msgs...)
}

// Disconnect disconnects the socket from its namespace: the client gets a
// DISCONNECT packet and the disconnect handler runs (on the caller's
// goroutine) with "server namespace disconnect". The engine connection
// stays open for other namespaces.
func (s *Socket) Disconnect() {
	if !s.Connected() {
		return
	}
	_ = s.client.conn.SendText(AppendHeader(nil, PacketDisconnect, 0, s.nsp.name, false, 0))
	s.onClose("server namespace disconnect")
}

func (s *Socket) send(text []byte, atts [][]byte) error {
	if len(atts) == 0 {
		return s.client.conn.SendText(text)
	}
	msgs := make([]engineio.Message, 0, 1+len(atts))
	msgs = append(msgs, engineio.Message{Data: text})
	for _, a := range atts {
		msgs = append(msgs, engineio.Message{Data: a, Binary: true})
	}
	return s.client.conn.Send(msgs...)
}

// onPacket handles a packet for this socket (reading goroutine).
func (s *Socket) onPacket(p *Packet) {
	switch p.Type {
	case PacketEvent, PacketBinaryEvent:
		name, _ := eventName(p.Args[0])
		ev := &Event{
			Name:        name,
			Args:        p.Args[1:],
			Attachments: p.Attachments,
			socket:      s,
			id:          p.ID,
			hasAck:      p.HasID,
		}
		s.mu.Lock()
		h := s.handler
		s.mu.Unlock()
		if h != nil {
			h.OnEvent(ev)
		}
	case PacketAck, PacketBinaryAck:
		if !p.HasID {
			return
		}
		s.mu.Lock()
		ch, ok := s.acks[p.ID]
		delete(s.acks, p.ID)
		s.mu.Unlock()
		if ok {
			ch <- ackResult{args: p.Args}
		}
	case PacketDisconnect:
		s.onClose("client namespace disconnect")
	}
}

// onClose disconnects the socket once: pending acks fail, the socket
// leaves its client and namespace, and the handler runs.
// abort runs the disconnect handler of a socket whose CONNECT did not
// complete (see OnDisconnect).
func (s *Socket) abort(reason string) {
	s.mu.Lock()
	h := s.handler
	s.handler = nil // once (the socket never connected: no event comes)
	s.mu.Unlock()
	if h != nil {
		h.OnDisconnect(reason)
	}
}

func (s *Socket) onClose(reason string) {
	s.mu.Lock()
	if !s.connected {
		s.mu.Unlock()
		return
	}
	s.connected = false
	acks := s.acks
	s.acks = nil
	h := s.handler
	s.mu.Unlock()
	for _, ch := range acks {
		ch <- ackResult{err: ErrDisconnected}
	}
	s.client.remove(s)
	if h != nil {
		h.OnDisconnect(reason)
	}
}

// Event is an event received from a client.
type Event struct {
	// Name is the event name (a numeric name is kept as its JSON text).
	Name string
	// Args are the arguments after the name, as raw JSON; binary
	// placeholders are kept verbatim (see Binary). They alias the received
	// message and belong to the handler.
	Args []json.RawMessage
	// Attachments are the binary attachments, in placeholder order.
	Attachments [][]byte

	socket *Socket
	id     uint64
	hasAck bool
	acked  atomic.Bool
}

// Socket returns the socket the event came from.
func (e *Event) Socket() *Socket { return e.socket }

// HasAck reports whether the client asked for an acknowledgement.
func (e *Event) HasAck() bool { return e.hasAck }

// Ack sends the acknowledgement with args (encoded as by Socket.Emit). It
// may be called from any goroutine, once; it returns ErrNoAck when the
// client asked for none, ErrAcked on a second call, ErrNotConnected, or
// the engine's send error.
func (e *Event) Ack(args ...any) error {
	if !e.hasAck {
		return ErrNoAck
	}
	if e.acked.Swap(true) {
		return ErrAcked
	}
	s := e.socket
	if !s.Connected() {
		return ErrNotConnected
	}
	text, atts, err := appendAck(nil, s.nsp.name, e.id, args)
	if err != nil {
		return err
	}
	return s.send(text, atts)
}

// Binary returns the attachment that argument i stands for when it is a
// binary placeholder.
func (e *Event) Binary(i int) ([]byte, bool) {
	if i < 0 || i >= len(e.Args) {
		return nil, false
	}
	n, ok := PlaceholderNum(e.Args[i])
	if !ok || n >= len(e.Attachments) {
		return nil, false
	}
	return e.Attachments[n], true
}

// EchoArgs returns the event's arguments ready to be sent again: binary
// placeholders become their []byte attachment, everything else stays
// raw JSON.
func (e *Event) EchoArgs() []any {
	out := make([]any, len(e.Args))
	for i, a := range e.Args {
		if b, ok := e.Binary(i); ok {
			out[i] = b
		} else {
			out[i] = a
		}
	}
	return out
}
