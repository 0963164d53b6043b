package socketio

import (
	"context"
	"fmt"
	"math"
	"net/http"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/internal/warm"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
	"github.com/rtbroker/rtbroker/gateways/socketio/protocol"
)

// A socket's joins, leaves and publishes are handled off its connection's
// reading goroutine, so that one slow operation (a commit, a session save)
// does not hold up the next event and a socket's publishes share commits
// with each other: joins and leaves run in order on the member's command
// goroutine (with the member's state, see member.call), publishes are queued for commit in the order they were read (the log
// keeps that order) and acked, in that order, by an ack goroutine that
// runs while some are awaited. At most GatewayConfig.MaxPending of them
// are in flight per socket: each holds a slot from read until acked.

// pendingAck is a publish queued for commit, to be acked once committed.
type pendingAck struct {
	ev     *protocol.Event
	p      *broker.Pending
	ctx    context.Context // bounds the wait (GatewayConfig.PublishTimeout)
	cancel context.CancelFunc
}

// acquire takes a slot for ev. When every slot is taken, an event that
// asks for an ack is acked {ok: false, error: {code: "rate_limited"}} at
// once and acquire reports false; one that asks for none waits for a slot
// (the connection's reading pauses: backpressure, nothing is dropped).
// False also when the socket is gone meanwhile. On the reading goroutine.
func (m *member) acquire(ev *protocol.Event) bool {
	max := m.ns.g.cfg.MaxPending
	if m.takeSlot(max) {
		return true
	}
	if ev.HasAck() {
		m.ns.g.respond(ev, nil, &wire.Error{
			Status:  http.StatusTooManyRequests,
			Code:    wire.CodeRateLimited,
			Message: fmt.Sprintf("too many events awaiting their ack on this socket (at most %d): wait for acks before sending more", max),
		})
		return false
	}
	for {
		m.qmu.Lock()
		if m.slotWait == nil {
			m.slotWait = make(chan struct{}, 1)
		}
		wait := m.slotWait
		m.qmu.Unlock()
		if m.takeSlot(max) {
			return true
		}
		if m.ended.Load() {
			return false
		}
		select {
		case <-wait:
		case <-m.ns.g.ctx.Done():
			return false
		}
	}
}

// takeSlot takes a slot when fewer than max are taken.
func (m *member) takeSlot(max int) bool {
	m.qmu.Lock()
	defer m.qmu.Unlock()
	if int(m.inFlight) >= max || m.inFlight == math.MaxInt32 {
		return false
	}
	m.inFlight++
	return true
}

// signalSlot wakes the reader waiting for a slot, if any.
func (m *member) signalSlot() {
	m.qmu.Lock()
	if m.slotWait != nil {
		select {
		case m.slotWait <- struct{}{}:
		default:
		}
	}
	m.qmu.Unlock()
}

// finish acks ev (see Gateway.respond) and frees its slot.
func (m *member) finish(ev *protocol.Event, ack any, err error) {
	// The slot is free before the ack is sent: a client that sends its next
	// event on receiving the ack must find it free.
	m.qmu.Lock()
	m.inFlight--
	m.qmu.Unlock()
	m.signalSlot()
	m.ns.g.respond(ev, ack, err)
}

// enqueue runs f with the member's state (see member.call) after the
// functions enqueued before it, on the member's command goroutine, which
// runs while there are any: joins and leaves save the session durably, so
// they block, which the pump's workers must not. f never runs if the
// socket disconnects first.
func (m *member) enqueue(f func()) {
	m.qmu.Lock()
	if m.cmdQ == nil {
		m.cmdQ = new([]func())
	}
	*m.cmdQ = append(*m.cmdQ, f)
	start := !m.running
	m.running = true
	m.qmu.Unlock()
	if start {
		warm.Go(&m.ns.g.wg, m.runQueued)
	}
}

// runQueued runs the enqueued functions, oldest first, until none is left.
func (m *member) runQueued() {
	for {
		m.qmu.Lock()
		if m.cmdQ == nil || len(*m.cmdQ) == 0 {
			m.cmdQ = nil
			m.running = false
			m.qmu.Unlock()
			return
		}
		q := *m.cmdQ
		f := q[0]
		q[0] = nil
		*m.cmdQ = q[1:]
		m.qmu.Unlock()
		m.call(f)
	}
}

// awaitCommit acks pa's event once committed, after the publishes queued
// before it; it starts the ack goroutine when none runs.
func (m *member) awaitCommit(pa pendingAck) {
	m.qmu.Lock()
	if m.acks == nil {
		m.acks = new([]pendingAck) // kept: one word per socket that never publishes
	}
	*m.acks = append(*m.acks, pa)
	start := !m.acking
	m.acking = true
	m.qmu.Unlock()
	if start {
		m.ns.g.wg.Go(m.ackLoop)
	}
}

// ackLoop acks the awaited publishes in order until none is left.
// Commits happen in the same order, so waiting for each in turn delays
// no ack.
func (m *member) ackLoop() {
	for {
		m.qmu.Lock()
		if len(*m.acks) == 0 {
			*m.acks = nil
			m.acking = false
			m.qmu.Unlock()
			return
		}
		q := *m.acks
		pa := q[0]
		q[0] = pendingAck{}
		*m.acks = q[1:]
		m.qmu.Unlock()
		ev, err := pa.p.Wait(pa.ctx)
		pa.cancel()
		var ack any
		if err == nil {
			ack = publishAck{OK: true, Offset: ev.Offset, ID: ev.ID.String()}
		}
		m.finish(pa.ev, ack, err)
	}
}
