package socketio

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/internal/deadline"
	"github.com/rtbroker/rtbroker/gateways/internal/pump"
)

// member is one Socket.IO socket of the broker gateway: the log rooms it
// has joined and the one subscription that feeds it. It holds no
// goroutine: it is a task of the gateway's pump pool, made ready by its
// subscription's wake-ups, and its state has one owner at a time: the
// task's run (step, on a pool worker) or a join or leave running on the
// socket's command goroutine through the task's Do (see inflight.go).
type member struct {
	g    *Gateway
	ns   *gwNamespace
	s    *Socket
	pid  string
	id   auth.Identity // who the socket is; decides what it may join and publish
	auto []string      // the log rooms it is auto-joined to (and may join without permission)

	// Guarded by Gateway.mu (see expiry.go).
	deadline time.Time // when the identity's token stops being accepted; zero: never
	// In Gateway.expiring (guarded by the scheduler).
	expiry deadline.Entry[*member]

	task    *pump.Task
	started atomic.Bool // the socket is connected: deliver
	ended   atomic.Bool // the socket disconnected: close the subscription

	qmu      sync.Mutex    // guards the fields below
	inFlight int           // events holding a slot (at most GatewayConfig.MaxPending)
	slotWait chan struct{} // cap 1: a slot was freed or the socket ended; made by the first waiter
	cmdQ     []func()      // joins and leaves, run in order by the command goroutine
	running  bool          // the command goroutine runs
	acks     []pendingAck  // publishes awaiting their commit, in order
	acking   bool          // the ack goroutine runs

	// Owned by the task.
	sent    roomOffsets   // log room → offset through which its events were sent (or skipped)
	rec     sessionRecord // the session as last saved
	sub     *broker.Subscription
	stopped bool // nothing more is delivered (the connection is going away)
}

// newMember returns a member whose rooms resume after the given offsets
// (a new session when rooms is empty). rec is the session to save.
func newMember(g *Gateway, ns *gwNamespace, s *Socket, id auth.Identity, rec sessionRecord) *member {
	m := &member{g: g, ns: ns, s: s, id: id, auto: ns.autoJoinRooms(id), pid: rec.PID, rec: rec}
	m.task = g.pool.NewTask(m.step)
	m.sent = make(roomOffsets, 0, len(rec.Rooms))
	for r, off := range rec.Rooms {
		m.sent.set(r, off)
	}
	return m
}

// autoJoin adds the member's auto-join rooms from the log's head to a new
// session (before it is saved and before the pump runs).
func (m *member) autoJoin(ctx context.Context) error {
	if len(m.auto) == 0 {
		return nil
	}
	head := m.g.b.Head().Offset
	m.rec.Rooms = make(map[string]uint64, len(m.auto))
	for _, r := range m.auto {
		if len(m.sent) >= m.g.cfg.MaxRooms {
			break
		}
		m.sent.set(r, head)
		m.rec.Rooms[r] = head
	}
	_, err := m.resubscribe(ctx)
	return err
}

// start begins delivery, once the socket is connected.
func (m *member) start() {
	m.started.Store(true)
	m.task.Ready()
}

// end stops delivery for good: the task closes the subscription.
func (m *member) end() {
	if m.ended.CompareAndSwap(false, true) {
		m.signalSlot() // a reader waiting for a slot gives up
	}
	m.task.Ready()
}

// step is the member's task: it reads one batch of its subscription and
// writes it to the socket without blocking (see engineio.Conn.Send), and
// makes itself ready again while there may be more.
func (m *member) step() {
	if m.ended.Load() {
		// Ended (only ever after the CONNECT middleware returned, even
		// when the CONNECT was aborted and start never came).
		if m.sub != nil {
			m.sub.Close()
			m.sub = nil
		}
		m.stopped = true
		return
	}
	if !m.started.Load() {
		// The subscription may wake the task while the CONNECT is being
		// answered; the member's state is not the task's before start.
		return
	}
	if m.stopped || m.sub == nil {
		return
	}
	limit := m.g.cfg.BatchSize
	evs, err := m.sub.TryNext(m.g.ctx, limit)
	if err != nil {
		m.readFailed(err)
		return
	}
	if len(evs) == 0 {
		return
	}
	if !m.deliver(evs) {
		m.stopped = true
		return
	}
	if len(evs) >= limit {
		m.task.Ready() // there may be more: after the other ready tasks
	}
}

// readFailed handles an error of the subscription: a reset is told to
// the client and reading goes on; anything else closes the connection.
func (m *member) readFailed(err error) {
	var reset *broker.ResetError
	if errors.As(err, &reset) {
		m.s.Emit("reset", m.resetInfo(reset))
		m.task.Ready()
		return
	}
	if !errors.Is(err, broker.ErrClosed) && m.g.ctx.Err() == nil {
		m.g.log.Error("socketio: read rooms", "sid", m.s.ID(), "err", err)
	}
	m.stopped = true
	m.s.Conn().Close() // the client reconnects and recovers
}

// deliver writes the events the socket has not been sent yet, in one
// write per chunk: live events as their shared packet, catch-up events
// (see recovery.go) encoded for this socket. It reports false when the
// socket can take no more.
func (m *member) deliver(evs []*broker.Event) bool {
	var chunk [64][]byte
	pkts := chunk[:0]
	for _, ev := range evs {
		through, ok := m.sent.get(ev.Room)
		if !ok || ev.Offset != 0 && ev.Offset <= through {
			continue
		}
		var pkt []byte
		if ev.Offset != 0 && ev.Offset <= m.rec.Live && m.rec.CatchUp[ev.Room] {
			pkt = m.ns.encode(ev, token{catchUp: true, gen: m.rec.Gen, offset: ev.Offset})
		} else {
			pkt = ev.Encode(m.ns.enc)
		}
		if ev.Offset != 0 {
			m.sent.set(ev.Room, ev.Offset)
		}
		if len(pkts) == len(chunk) {
			if !m.write(pkts) {
				return false
			}
			pkts = pkts[:0]
		}
		pkts = append(pkts, pkt)
	}
	return len(pkts) == 0 || m.write(pkts)
}

// write sends packets to the socket; a client that cannot keep up loses
// its connection (not its session): it reconnects and recovers from the
// log.
func (m *member) write(pkts [][]byte) bool {
	if err := m.s.WriteRaw(pkts...); err != nil {
		if !errors.Is(err, ErrNotConnected) {
			m.s.Conn().Close()
		}
		return false
	}
	return true
}

// resubscribe replaces the subscription with one over the member's rooms
// from the lowest offset any of them still needs; deliver skips what a
// room was already sent. It returns the subscription's reset, if any.
func (m *member) resubscribe(ctx context.Context) (*broker.ResetError, error) {
	if m.sub != nil {
		m.sub.Close()
		m.sub = nil
	}
	if len(m.sent) == 0 {
		return nil, nil
	}
	sub, err := m.g.b.Subscribe(ctx, m.sent.rooms(), broker.Position{Offset: m.sent.minOffset()})
	if err != nil {
		return nil, err
	}
	sub.OnWake(m.task.Ready)
	m.sub = sub
	return sub.Reset(), nil
}

// position is the offset through which the subscription has read: every
// event of the member's rooms up to it has been sent (0 without one).
func (m *member) position() uint64 {
	if m.sub == nil {
		return 0
	}
	return m.sub.Position().Offset
}

// call runs f with the member's state (see pump.Task.Do) on the calling
// goroutine, then lets the task deliver what f made available. It returns
// false when the member is gone.
func (m *member) call(f func()) bool {
	ran := false
	m.task.Do(func() {
		if m.ended.Load() {
			return
		}
		ran = true
		f()
	})
	if ran {
		m.task.Ready()
	}
	return ran
}

// resetInfo is the payload of a `reset` event or of a join that could not
// start where it was asked to.
func (m *member) resetInfo(r *broker.ResetError) map[string]any {
	rooms := make([]string, 0, len(m.sent))
	for _, ro := range m.sent {
		lr := ro.room
		rooms = append(rooms, m.ns.clientRoom(lr))
	}
	slices.Sort(rooms)
	return map[string]any{"reason": r.Code(), "rooms": rooms, "requested": r.Requested.Offset, "resume": r.Resume.Offset, "epoch": m.g.b.Epoch()}
}

// join adds room (a client room name) from after `after` (nil: from
// `now`, the head when the client's join was received) and saves the
// session. An `after` beyond the head, or
// given with another log's epoch, starts at the earliest retained event
// and reports recovered: false (reason epoch_mismatch), as the HTTP
// interfaces do. Joining a room the socket is already in changes nothing,
// unless `after` is before the room's start in this session (an
// auto-joined room, say, which a client re-joins after the offset it
// last had): when none of the room's events has been sent since, the
// room starts over from `after`; otherwise the ack is recovered: false
// with reset {reason: "already_joined", requested, resume} (the events
// between them were not sent on this socket). With the member's state (call).
func (m *member) join(ctx context.Context, room string, after *uint64, epoch string, now uint64) (map[string]any, error) {
	logRoom, err := m.ns.logRoom(room)
	if err != nil {
		return nil, err
	}
	if _, ok := m.sent.get(logRoom); !ok && len(m.sent) >= m.g.cfg.MaxRooms {
		return nil, &broker.ValidationError{Field: "room", Reason: "too many rooms for one socket"}
	}
	head := m.g.b.Head().Offset
	start := now
	var mismatch bool
	if after != nil {
		start = *after
		if start > 0 && (start > head || epoch != "" && epoch != m.g.b.Epoch()) {
			start, mismatch = 0, true
		}
	}
	prev, had := m.sent.get(logRoom)
	if had {
		joinedAt := m.rec.Rooms[logRoom]
		switch {
		case after == nil || start >= joinedAt:
			// Already joined (a retried join, say): nothing changes.
			// Neither the subscription nor the saved session may move: the
			// events sent so far may not have been received, and recovery
			// relies on the saved start.
			return map[string]any{"ok": true, "room": room, "head": head, "epoch": m.g.b.Epoch(), "recovered": true}, nil
		case prev != joinedAt:
			// Events after joinedAt were sent: resending from start would
			// duplicate them.
			return map[string]any{"ok": true, "room": room, "head": head, "epoch": m.g.b.Epoch(), "recovered": false,
				"reset": map[string]any{"reason": "already_joined", "requested": *after, "resume": joinedAt}}, nil
		}
		// Nothing of the room was sent since joinedAt: join it afresh.
		m.sent.del(logRoom)
	}
	pos := m.position()
	rec := m.rec
	rec.Rooms = maps.Clone(m.rec.Rooms)
	if rec.Rooms == nil {
		rec.Rooms = make(map[string]uint64)
	}
	rec.Rooms[logRoom] = start
	if start < pos {
		// A catch-up: the room's events up to pos come after events of
		// other rooms above them.
		rec.Ambiguous = m.catchingUp(pos)
		rec.Gen++
		rec.Live = pos
		rec.CatchUp = map[string]bool{logRoom: true}
	}
	m.sent.set(logRoom, start)
	reset, err := m.resubscribe(ctx)
	if err == nil {
		err = m.g.sessions.save(ctx, &rec)
	}
	if err != nil {
		if had {
			m.sent.set(logRoom, prev)
		} else {
			m.sent.del(logRoom)
		}
		m.resubscribe(ctx)
		return nil, err
	}
	m.rec = rec
	ack := map[string]any{"ok": true, "room": room, "head": head, "epoch": m.g.b.Epoch(), "recovered": reset == nil && !mismatch}
	switch {
	case mismatch:
		ack["reset"] = map[string]any{"reason": "epoch_mismatch", "requested": *after, "resume": start}
	case reset != nil:
		ack["reset"] = map[string]any{"reason": reset.Code(), "requested": reset.Requested.Offset, "resume": reset.Resume.Offset}
	}
	return ack, nil
}

// catchingUp reports whether the last catch-up has not been sent in full
// (the subscription has not read past its boundary).
func (m *member) catchingUp(pos uint64) bool {
	return len(m.rec.CatchUp) > 0 && pos < m.rec.Live
}

// leave removes room and saves the session. With the member's state (call).
func (m *member) leave(ctx context.Context, room string) (map[string]any, error) {
	logRoom, err := m.ns.logRoom(room)
	if err != nil {
		return nil, err
	}
	if _, ok := m.sent.get(logRoom); !ok {
		return map[string]any{"ok": true, "room": room}, nil
	}
	rec := m.rec
	rec.Rooms = maps.Clone(m.rec.Rooms)
	delete(rec.Rooms, logRoom)
	if err := m.g.sessions.save(ctx, &rec); err != nil {
		return nil, err
	}
	m.rec = rec
	m.sent.del(logRoom)
	if _, err := m.resubscribe(ctx); err != nil {
		return nil, err
	}
	return map[string]any{"ok": true, "room": room}, nil
}
