package socketio

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/conns"
	"github.com/rtbroker/rtbroker/gateways/internal/pump"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
	"github.com/rtbroker/rtbroker/gateways/presence"
	"github.com/rtbroker/rtbroker/gateways/socketio/protocol"
)

// member is one Socket.IO socket of the broker gateway: glue between the
// socket and its one broker.Subscription, the cursor that follows the
// socket's rooms, each from its own position. It holds no goroutine: it
// is a task of the gateway's pump pool, made ready by the subscription's
// wake-ups. Its session state has one owner at a time: the task's run
// (step, on a pool worker) or a join or leave running through the task's
// Do on the socket's command goroutine (see inflight.go).
type member struct {
	ns  *gwNamespace // and through it the gateway (ns.g): a word less per socket
	s   *protocol.Socket
	id  auth.Identity // who the socket is; decides what it may join and publish (and the namespace's auto-join rooms: see autoJoinRooms)
	sub *broker.Subscription

	entry *conns.Entry // the socket's registration in Gateway.conns; set by connect

	task    *pump.Task
	started atomic.Bool // the socket is connected: deliver
	ended   atomic.Bool // the socket disconnected: close the subscription

	// Owned by the task.
	stopped bool // nothing more is delivered (the connection is going away)

	// Guarded by qmu.
	running bool // the command goroutine runs
	acking  bool // the ack goroutine runs

	qmu      sync.Mutex    // guards the fields below, running and acking
	inFlight int32         // events holding a slot (at most GatewayConfig.MaxPending); int32 fills the word beside qmu
	slotWait chan struct{} // cap 1: a slot was freed or the socket ended; made by the first waiter
	cmdQ     *[]func()     // joins and leaves, run in order by the command goroutine; nil when none waits
	acks     *[]pendingAck // publishes awaiting their commit, in order; made by the first publish

	// Owned by the task.
	pres *[]*presence.Conn // where the socket is present (see sioPresence), nil when nowhere; guarded by sioPresence.mu

	rest  *[]*broker.Event // read, not yet written: the connection got backlogged amid a batch (rare: nil)
	rec   sessionState     // the session as last saved (see record)
	saved time.Duration    // when rec was last written (sessions.clock)
}

// newMember returns a member reading sub (which it then owns) for the
// session rec.
func newMember(ns *gwNamespace, s *protocol.Socket, id auth.Identity, rec sessionState, sub *broker.Subscription) *member {
	m := &member{ns: ns, s: s, id: id, rec: rec, sub: sub}
	m.task = ns.g.pool.NewTask(m.step)
	sub.OnWake(m.task.Ready)
	return m
}

// record returns the session record of st, a state of m's session: its
// pid is the socket's (set before the member was made), its namespace and
// socket id are the socket's (Restore gives a recovered socket its old
// id), and its epoch is the log's (a recovered record's was checked to
// be).
func (m *member) record(st sessionState) *sessionRecord {
	return &sessionRecord{PID: m.s.PID(), NSP: m.ns.name, SID: m.s.ID(), Epoch: m.ns.g.b.Epoch(), sessionState: st}
}

// autoJoin adds the member's auto-join rooms from the log's head to a new
// session (before it is saved and before the pump runs).
func (m *member) autoJoin(ctx context.Context) error {
	auto := m.ns.autoJoinRooms(m.id)
	if len(auto) == 0 {
		return nil
	}
	head := m.ns.g.b.Head().Offset
	auto = auto[:min(len(auto), m.ns.g.cfg.MaxRooms)]
	rooms := make(roomOffsets, 0, len(auto))
	for _, r := range auto {
		if _, err := m.sub.Add(ctx, r, broker.Position{Offset: head}); err != nil {
			return err
		}
		rooms = append(rooms, roomOffset{room: r, pos: head})
	}
	slices.SortFunc(rooms, func(a, b roomOffset) int { return strings.Compare(a.room, b.room) })
	m.rec.Rooms = rooms
	return nil
}

// start begins delivery, once the socket is connected: the first batch
// (a recovered session's missed events) is read and sent on the calling
// goroutine, the CONNECT handler's, so that it leaves with the CONNECT
// answer in one write (the protocol corks the connection around the
// handlers); the task delivers the rest, woken by the subscription (a
// wake-up that comes while this runs re-queues the task, see pump.Task.Do).
func (m *member) start() {
	m.started.Store(true)
	m.task.Do(m.step)
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
		m.sub.Close()
		m.stopped = true
		return
	}
	if !m.started.Load() || m.stopped {
		// The subscription may wake the task while the CONNECT is being
		// answered; the member's state is not the task's before start.
		return
	}
	if m.s.Conn().Backlogged(m.task.Ready) {
		// The client reads slower than the socket is fed: read on once
		// what is queued has been written (a slow reader catching up is
		// paced, not closed at the write buffer limit).
		return
	}
	if m.rest != nil {
		evs := *m.rest
		m.rest = nil
		if !m.deliver(evs) {
			m.stopped = true
		} else if m.rest == nil {
			m.task.Ready() // read on
		}
		return
	}
	limit := m.ns.g.cfg.BatchSize
	evs, err := m.sub.TryNext(m.ns.g.ctx, limit)
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
	if len(evs) >= limit && m.rest == nil {
		m.task.Ready() // there may be more: after the other ready tasks
	}
}

// readFailed handles an error of the subscription: a reset is told to
// the client and reading goes on; anything else closes the connection.
func (m *member) readFailed(err error) {
	var reset *broker.ResetError
	if errors.As(err, &reset) {
		m.s.Emit("reset", m.resetEvent(reset))
		m.task.Ready()
		return
	}
	m.stopped = true
	if errors.As(err, new(*broker.CorruptionError)) { // the storage logged that at ERROR once
		m.corrupted(err)
		return
	}
	if !errors.Is(err, broker.ErrClosed) && m.ns.g.ctx.Err() == nil {
		m.ns.g.log.Error("socketio: read rooms", "sid", m.s.ID(), "err", err)
	}
	m.s.Conn().Close() // the client reconnects and recovers
}

// corrupted tells the client that its catch-up read hit a damaged part of
// the log: an ErrorEvent {code: "data_corrupted", message} naming the
// offset range, then a Socket.IO DISCONNECT ("io server disconnect" in
// socket.io-client, which does not reconnect by itself), so the client
// does not reconnect and recover into the same damage again and again.
// The DISCONNECT runs the socket's disconnect handler, which waits for
// the task: it is sent from a goroutine of the gateway, not the task.
func (m *member) corrupted(err error) {
	_ = m.s.Emit(ErrorEvent, wire.NewErrorBody(err))
	m.ns.g.wg.Go(m.s.Disconnect)
}

// deliver writes events to the socket, in one write per chunk: events
// above the generation's Live boundary as their shared packet, catch-up
// events (see recovery.go) encoded for this socket. It reports false
// when the socket can take no more.
func (m *member) deliver(evs []*broker.Event) bool {
	return m.deliverPaced(evs, true)
}

// chunkBytes is how many bytes of packets deliver writes at once.
const chunkBytes = 64 << 10

// deliverPaced writes evs to the socket in chunks. When paced, it stops
// once a chunk leaves the connection backlogged and keeps the events not
// written in rest (a batch of large events, 64 KB each, would otherwise
// pass the write buffer limit in one go); the task is woken when the
// queue has drained. It reports false when the connection failed.
func (m *member) deliverPaced(evs []*broker.Event, paced bool) bool {
	var chunk [64][]byte
	pkts := chunk[:0]
	size, pending, written := 0, 0, len(evs)
	defer func() { m.ns.g.deliveries.Add(evs[:written], size, m.sub.LiveAfter()) }()
	for i, ev := range evs {
		if m.ownTyping(ev) {
			continue
		}
		if len(pkts) == len(chunk) || len(pkts) > 0 && pending >= chunkBytes {
			if !m.write(pkts) {
				return false
			}
			pkts, pending = pkts[:0], 0
			if paced && m.s.Conn().Backlogged(m.task.Ready) {
				rest := evs[i:]
				m.rest, written = &rest, i
				return true
			}
		}
		var pkt []byte
		if ev.Offset != 0 && ev.Offset <= m.rec.Live {
			pkt = m.ns.encode(ev, token{catchUp: true, gen: m.rec.Gen, offset: ev.Offset})
		} else {
			pkt = ev.Encode(m.ns.enc)
		}
		size += len(pkt)
		pending += len(pkt)
		pkts = append(pkts, pkt)
	}
	return len(pkts) == 0 || m.write(pkts)
}

// flushRest writes the events kept in rest, backlogged or not: a join or
// a leave changes the session's rooms and generation, which the events
// already read (with the positions the subscription moved past) must
// precede.
func (m *member) flushRest() {
	if m.rest == nil || m.stopped {
		return
	}
	evs := *m.rest
	m.rest = nil
	if !m.deliverPaced(evs, false) {
		m.stopped = true
	}
}

// write sends packets to the socket; a client that cannot keep up loses
// its connection (not its session): it reconnects and recovers from the
// log.
func (m *member) write(pkts [][]byte) bool {
	if err := m.s.WriteRaw(pkts...); err != nil {
		if !errors.Is(err, protocol.ErrNotConnected) {
			m.s.Conn().Close()
		}
		return false
	}
	return true
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
		m.flushRest()
		f()
	})
	if ran {
		m.task.Ready()
	}
	return ran
}

// resetEvent is the payload of a `reset` event: a room of the socket lost
// events to retention while it was being read. It names the rooms (client
// names: the one room, or all of the socket's when the reset concerns them
// all) and the epoch: {reason, rooms, requested, resume, epoch}.
func (m *member) resetEvent(r *broker.ResetError) wire.Reset {
	rooms := []string{m.ns.clientRoom(r.Room)}
	if r.Room == "" {
		rooms = rooms[:0]
		for lr := range m.rec.Rooms.all() {
			rooms = append(rooms, m.ns.clientRoom(lr))
		}
		slices.Sort(rooms)
	}
	rs := wire.NewReset(r)
	rs.Room, rs.Rooms, rs.Epoch = "", rooms, m.ns.g.b.Epoch()
	return rs
}

// frontier is the highest position of the socket's rooms: every offset
// written to the socket is at most this.
func (m *member) frontier() uint64 {
	var f uint64
	for r := range m.rec.Rooms.all() {
		if p, ok := m.sub.RoomPosition(r); ok {
			f = max(f, p)
		}
	}
	return f
}

// join adds room (a client room name) from after `after` (nil: from
// `now`, the head when the client's join was received) and saves the
// session durably before any of the room's events is written. An `after`
// beyond the head, or given with another log's epoch, starts at the
// earliest retained event and reports recovered: false (reason
// epoch_mismatch), as the HTTP interfaces do. Joining a room the socket is
// already in changes nothing, unless `after` is before the room's start
// in this session (an auto-joined room, say, which a client re-joins
// after the offset it last had): when none of the room's events has been
// sent since, the room starts over from `after`; otherwise the ack is
// recovered: false with reset {reason: "already_joined", requested,
// resume} (the events between them were not sent on this socket). With
// history > 0 the room starts at its last `history` events up to now (or
// at `after`, when that is later): see historyStart; such a join of a room
// the socket is already in is treated as a join with that `after`. The
// ack's start is the offset after which the room's events are sent. With
// the member's state (call). wantPresence (room:join's presence: true)
// makes the socket receive the room's presence:join and presence:leave
// (the caller checked the permission); a join without it stops them.
func (m *member) join(ctx context.Context, room string, after *uint64, epoch string, now uint64, history int, wantPresence bool) (*joinAck, error) {
	ack, err := m.joinRoom(ctx, room, after, epoch, now, history, wantPresence)
	if err != nil {
		return nil, err
	}
	logRoom, _ := m.ns.logRoom(room)
	if err := m.setPresence(ctx, logRoom, wantPresence); err != nil {
		return nil, err
	}
	ack.Presence = wantPresence
	return ack, nil
}

// setPresence records in the session whether the socket asked for the
// presence events of logRoom (a room it is in), saving the session when
// that changes; sioPresence.sync applies it to the subscription. With the
// member's state (call).
func (m *member) setPresence(ctx context.Context, logRoom string, on bool) error {
	if !m.rec.Rooms.has(logRoom) || m.rec.Presence[logRoom] == on {
		return nil
	}
	rec := m.rec
	rec.Presence = withPresence(m.rec.Presence, logRoom, on)
	if err := m.ns.g.sessions.save(ctx, m.record(rec)); err != nil {
		return err
	}
	m.rec, m.saved = rec, m.ns.g.sessions.clock()
	return nil
}

// withPresence returns a copy of the session's presence rooms p (never
// modified: records are shared once saved) with room in it or not.
func withPresence(p map[string]bool, room string, on bool) map[string]bool {
	p = maps.Clone(p)
	switch {
	case !on:
		delete(p, room)
	case p == nil:
		p = map[string]bool{room: true}
	default:
		p[room] = true
	}
	return p
}

// joinRoom is join without the presence opt-in; the add it may make
// records wantPresence in the session it saves.
func (m *member) joinRoom(ctx context.Context, room string, after *uint64, epoch string, now uint64, history int, wantPresence bool) (*joinAck, error) {
	logRoom, err := m.ns.logRoom(room)
	if err != nil {
		return nil, err
	}
	joinedAt, had := m.rec.Rooms.get(logRoom)
	if !had && len(m.rec.Rooms) >= m.ns.g.cfg.MaxRooms {
		return nil, &broker.ValidationError{Field: "room", Reason: "too many rooms for one socket"}
	}
	b := m.ns.g.b
	ack := &joinAck{OK: true, Room: room, Head: b.Head().Offset, Epoch: b.Epoch(), Recovered: true}
	start := now
	var mismatch bool
	requested := now
	if after != nil {
		start, requested = *after, *after
		if start > 0 && (start > ack.Head && !b.HeadAtLeast(ctx, start) || epoch != "" && epoch != b.Epoch()) {
			start, mismatch = 0, true
		}
		ack.Head = max(ack.Head, b.Head().Offset) // HeadAtLeast may have waited for the log
	}
	start, err = m.historyStart(ctx, logRoom, history, after, start, now)
	if err != nil {
		return nil, err
	}
	if after == nil && history > 0 {
		requested = start
	}
	if had {
		pos, _ := m.sub.RoomPosition(logRoom)
		ack.Start = joinedAt
		switch {
		case after == nil && history == 0 || start >= joinedAt:
			// Already joined (a retried join, say): nothing changes.
			// Neither the cursor nor the saved session may move: the
			// events sent so far may not have been received, and recovery
			// relies on the saved positions.
			return ack, nil
		case pos != joinedAt:
			// Events after joinedAt were sent: resending from start would
			// duplicate them.
			ack.Recovered = false
			ack.Reset = &wire.Reset{Reason: wire.ReasonAlreadyJoined, Requested: requested, Resume: joinedAt}
			return ack, nil
		}
		// Nothing of the room was sent since joinedAt: join it afresh.
	}
	pos, reset, err := m.add(ctx, logRoom, start, wantPresence)
	ack.Start = pos
	switch {
	case err != nil:
		return nil, err
	case mismatch:
		ack.Recovered = false
		ack.Reset = &wire.Reset{Reason: wire.ReasonEpochMismatch, Requested: *after, Resume: pos}
	case reset != nil:
		ack.Recovered = false
		rs := wire.NewReset(reset)
		rs.Room, rs.Epoch = "", "" // the ack names both
		ack.Reset = &rs
	}
	return ack, nil
}

// add makes the cursor follow logRoom from start and saves the session:
// in the current generation when the room starts at or above the
// frontier, else in a new one (see recovery.go). It returns the room's
// position and the cursor's reset, if it could not start there. On error
// the cursor and the session are as they were.
func (m *member) add(ctx context.Context, logRoom string, start uint64, wantPresence bool) (uint64, *broker.ResetError, error) {
	prevPos, had := m.sub.RoomPosition(logRoom)
	frontier := m.frontier()
	reset, err := m.sub.Add(ctx, logRoom, broker.Position{Offset: start})
	if err != nil {
		return 0, nil, err
	}
	pos, _ := m.sub.RoomPosition(logRoom)
	rec := m.rec
	if pos < frontier {
		// A catch-up: the room's events up to the frontier come after
		// higher offsets written before. A new generation.
		prev := m.rec.generation
		rec.Prev = &prev
		rec.Gen++
		rec.Live = frontier
		rec.Rooms = make(roomOffsets, len(m.rec.Rooms), len(m.rec.Rooms)+1)
		for i, e := range m.rec.Rooms {
			p, _ := m.sub.RoomPosition(e.room)
			rec.Rooms[i] = roomOffset{room: e.room, pos: p}
		}
		rec.Added = nil // nothing added in the new generation yet
	}
	rec.Rooms = rec.Rooms.with(logRoom, pos)
	if rec.Prev != nil {
		// Added is read only beside Prev (resumeFrom): a session without
		// a previous generation keeps none, which spares a map per socket.
		added := make(map[string]bool, len(rec.Added)+1)
		maps.Copy(added, rec.Added)
		added[logRoom] = true
		rec.Added = added
	}
	if wantPresence != m.rec.Presence[logRoom] {
		rec.Presence = withPresence(m.rec.Presence, logRoom, wantPresence)
	}
	if err := m.ns.g.sessions.save(ctx, m.record(rec)); err != nil {
		if had {
			m.sub.Add(ctx, logRoom, broker.Position{Offset: prevPos})
		} else {
			m.sub.Remove(logRoom)
		}
		return 0, nil, err
	}
	m.rec, m.saved = rec, m.ns.g.sessions.clock()
	return pos, reset, nil
}

// leave removes room and saves the session. With the member's state (call).
func (m *member) leave(ctx context.Context, room string) (*leaveAck, error) {
	logRoom, err := m.ns.logRoom(room)
	if err != nil {
		return nil, err
	}
	if !m.rec.Rooms.has(logRoom) {
		return &leaveAck{OK: true, Room: room}, nil
	}
	rec := m.rec
	rec.Rooms = m.rec.Rooms.without(logRoom)
	rec.Added = maps.Clone(m.rec.Added)
	delete(rec.Added, logRoom)
	if m.rec.Presence[logRoom] {
		rec.Presence = withPresence(m.rec.Presence, logRoom, false)
	}
	if err := m.ns.g.sessions.save(ctx, m.record(rec)); err != nil {
		return nil, err
	}
	m.rec, m.saved = rec, m.ns.g.sessions.clock()
	m.sub.Remove(logRoom)
	return &leaveAck{OK: true, Room: room}, nil
}
