package sse

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/conns"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
)

const (
	// chunkSize is how much of a batch is gathered before it is handed to
	// the ResponseWriter; a batch larger than that is written in several
	// writes and one flush. It bounds the memory a stream holds.
	chunkSize = 32 << 10
	// maxPooled is the largest buffer returned to the pool.
	maxPooled = 64 << 10
)

// stream is one open event stream. It lives on the request's goroutine.
type stream struct {
	h   *Handler
	w   http.ResponseWriter
	rc  *http.ResponseController
	sub *broker.Subscription
	buf *[]byte // borrowed from h.bufs while a batch is being written
	// expires is when the client's token stops being valid (zero: never).
	// The heartbeat timer never runs past it.
	expires time.Time
	conn    *conns.Entry // the stream in the handler's registry
}

// kickedComment ends a stream that an operator disconnected (the admin
// API), after the same short retry hint as at shutdown.
const kickedComment = "disconnected by the server"

// run writes the stream until the client goes away, a write fails or
// times out, the gateway or broker closes, or the token expires.
func (s *stream) run(ctx context.Context) {
	h := s.h
	hdr := s.w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	hdr.Set("X-Content-Type-Options", "nosniff")
	s.w.WriteHeader(http.StatusOK)

	b := s.begin()
	b = appendRetry(b, h.cfg.Retry)
	if re := s.sub.Reset(); re != nil {
		b = appendReset(b, re, s.sub.Position().Offset)
	}
	if s.end(b) != nil {
		return
	}

	heartbeat := time.NewTimer(s.untilTick())
	defer heartbeat.Stop()
	for {
		if s.expired() {
			s.expire()
			return
		}
		select {
		case <-h.t.Closing():
			s.shutdown()
			return
		case <-h.b.Done():
			s.shutdown()
			return
		default:
		}
		evs, err := s.sub.TryNext(ctx, h.cfg.BatchSize)
		var re *broker.ResetError
		switch {
		case errors.As(err, &re):
			// Retention overtook this reader: say so, then go on from
			// re.Resume, where the subscription now is.
			if s.end(appendReset(s.begin(), re, s.sub.Position().Offset)) != nil {
				return
			}
			heartbeat.Reset(s.untilTick())
			continue
		case ctx.Err() != nil:
			return
		case errors.Is(err, broker.ErrClosed) && s.conn.Kicked():
			s.end(append(s.begin(), shutdownFrame(h.cfg.ShutdownRetry, kickedComment)...))
			return
		case errors.Is(err, broker.ErrClosed):
			s.shutdown()
			return
		case errors.As(err, new(*broker.CorruptionError)): // the storage logged it at ERROR once
			h.cfg.Logger.DebugContext(ctx, "sse stream read failed", "err", err)
			s.end(appendCorrupted(s.begin(), err))
			return
		case err != nil:
			// The stream has started: no status to send. Log, and let the
			// client come back with its Last-Event-ID.
			h.cfg.Logger.ErrorContext(ctx, "sse stream read failed", "err", err, "rooms", s.sub.Rooms(), "position", s.sub.Position().Offset)
			s.end(appendRetry(s.begin(), h.cfg.Retry))
			return
		}
		if len(evs) > 0 {
			if s.writeEvents(evs) != nil {
				return
			}
			heartbeat.Reset(s.untilTick())
			continue
		}
		select {
		case <-s.sub.Wait():
		case <-heartbeat.C:
			if s.expired() {
				s.expire()
				return
			}
			if s.end(append(s.begin(), ": ping\n\n"...)) != nil {
				return
			}
			heartbeat.Reset(s.untilTick())
		case <-h.t.Closing():
			s.shutdown()
			return
		case <-h.b.Done():
			s.shutdown()
			return
		case <-ctx.Done():
			return
		}
	}
}

// writeEvents writes the shared frames of evs with one flush (several
// writes when they exceed chunkSize).
func (s *stream) writeEvents(evs []*broker.Event) error {
	b := s.begin()
	size := 0
	for _, ev := range evs {
		size += len(ev.Encode(s.h.enc))
	}
	s.h.deliveries.Add(evs, size, s.sub.LiveAfter())
	for _, ev := range evs {
		f := ev.Encode(s.h.enc)
		if len(b) > 0 && len(b)+len(f) > chunkSize {
			if err := s.write(b); err != nil {
				s.release(b)
				return err
			}
			b = b[:0]
		}
		if len(b) == 0 && len(f) >= chunkSize {
			// A frame that fills a chunk on its own is written as is.
			if err := s.write(f); err != nil {
				s.release(b)
				return err
			}
			continue
		}
		b = append(b, f...)
	}
	return s.end(b)
}

// shutdown tells the client to come back soon (with jitter), and flushes.
func (s *stream) shutdown() {
	d := s.h.cfg.ShutdownRetry
	d += rand.N(d)
	b := appendRetry(s.begin(), d)
	s.end(append(b[:len(b)-1], ": shutdown\n\n"...))
}

// untilTick is how long the heartbeat timer runs: Heartbeat, or less when
// the token expires sooner, so that the same timer ends the stream then.
func (s *stream) untilTick() time.Duration {
	d := s.h.cfg.Heartbeat
	if !s.expires.IsZero() {
		d = min(d, time.Until(s.expires))
	}
	return d
}

// expired reports whether the client's token has expired.
func (s *stream) expired() bool {
	return !s.expires.IsZero() && !time.Now().Before(s.expires)
}

// expire ends the stream of an expired token: a short retry hint (with
// jitter, as in shutdown) and a `: token expired` comment. It is not an
// `event: error`, which EventSource would confuse with its own error event;
// the client just reconnects, and must bring a fresh token to be let in.
func (s *stream) expire() {
	d := s.h.cfg.ShutdownRetry
	d += rand.N(d)
	b := appendRetry(s.begin(), d)
	s.end(append(b[:len(b)-1], ": token expired\n\n"...))
}

// begin borrows a batch buffer and returns it empty.
func (s *stream) begin() []byte {
	if p, ok := s.h.bufs.Get().(*[]byte); ok {
		s.buf = p
		return (*p)[:0]
	}
	s.buf = new([]byte)
	return make([]byte, 0, 4<<10)
}

// end writes b, flushes, and gives the buffer back.
func (s *stream) end(b []byte) error {
	err := s.write(b)
	if err == nil {
		err = s.flush()
	}
	s.release(b)
	return err
}

// release gives the batch buffer back to the pool, unless it grew too large
// to be worth keeping.
func (s *stream) release(b []byte) {
	if s.buf == nil {
		return
	}
	if cap(b) <= maxPooled {
		*s.buf = b[:0]
		s.h.bufs.Put(s.buf)
	}
	s.buf = nil
}

// write writes p within the write timeout.
func (s *stream) write(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	s.deadline()
	_, err := s.w.Write(p)
	return err
}

func (s *stream) flush() error {
	s.deadline()
	return s.rc.Flush()
}

// deadline bounds the next write. net/http clears the deadline after the
// handler returns, so a kept-alive connection is not affected.
func (s *stream) deadline() {
	// ErrNotSupported (a ResponseWriter without deadlines) is fine: the
	// write is then as bounded as that writer makes it.
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.h.cfg.WriteTimeout))
}

// encodeFrame is the SSE frame of ev: `id:` (committed events only),
// `event:` and `data:` lines and the blank line that dispatches it. Event
// JSON is compact, so it is one data line; the split below only guards
// against a Log that hands back data with raw line breaks.
func encodeFrame(ev *broker.Event) []byte {
	js := ev.JSON()
	b := make([]byte, 0, len(js)+len(ev.Type)+48)
	if ev.Offset > 0 {
		b = append(b, "id: "...)
		b = strconv.AppendUint(b, ev.Offset, 10)
		b = append(b, '\n')
	}
	b = append(b, "event: "...)
	b = append(b, ev.Type...)
	b = append(b, '\n')
	b = appendData(b, js)
	return append(b, '\n')
}

// appendData appends js as data lines, one per line of js.
func appendData(b, js []byte) []byte {
	for {
		i := bytes.IndexAny(js, "\r\n")
		if i < 0 {
			b = append(b, "data: "...)
			b = append(b, js...)
			return append(b, '\n')
		}
		b = append(b, "data: "...)
		b = append(b, js[:i]...)
		b = append(b, '\n')
		if js[i] == '\r' && i+1 < len(js) && js[i+1] == '\n' {
			i++
		}
		js = js[i+1:]
	}
}

// appendRetry appends a `retry:` field in a frame of its own.
func appendRetry(b []byte, d time.Duration) []byte {
	b = append(b, "retry: "...)
	b = strconv.AppendInt(b, d.Milliseconds(), 10)
	return append(b, "\n\n"...)
}

// appendReset appends the reset event. Its id is the stream's position
// after the reset (the subscription's Position: the resume offset of a
// stream of one room; with several rooms, where a reconnecting client
// misses nothing), and its data is the wire.Reset: which room it concerns
// ("room", absent when it concerns all of them), where that room resumes,
// and the epoch.
func appendReset(b []byte, re *broker.ResetError, id uint64) []byte {
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, "\nevent: reset\ndata: "...)
	rs := wire.NewReset(re)
	b = rs.AppendJSON(b)
	return append(b, "\n\n"...)
}

// CorruptRetry is the reconnection delay sent with the error event of a
// stream whose read hit a damaged part of the log (see appendCorrupted):
// the damage stays until an operator repairs the log, so an EventSource
// that comes back at once would only meet it again.
const CorruptRetry = time.Minute

// appendCorrupted appends the last frames of a stream whose read hit a
// damaged part of the log: `event: error` with the error object
// {"code":"data_corrupted","message"} (naming the offset range) and a
// long retry hint. The stream then closes; a client that listens for the
// "error" event sees why and can stop (EventSource.close) instead of
// reconnecting into the same damage.
func appendCorrupted(b []byte, err error) []byte {
	e := wire.NewErrorBody(err)
	b = append(b, "event: error\ndata: "...)
	b = e.AppendJSON(b)
	b = append(b, "\n\n"...)
	return appendRetry(b, CorruptRetry)
}
