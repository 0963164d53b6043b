package engineio

import (
	"errors"
	"net"
	"os"
	"time"

	"github.com/rtbroker/rtbroker/gateways/internal/rawio"
	"github.com/rtbroker/rtbroker/gateways/internal/warm"
)

// inlineRounds bounds how many batches a sender writes itself (when other
// senders keep adding to the queue meanwhile) before it hands the queue to
// a writer goroutine.
const inlineRounds = 4

// frameScratch holds the buffers of one batch write.
type frameScratch struct {
	g  rawio.Gather
	rw rawio.Writer // non-blocking writes (Linux)
}

func (s *Server) getScratch() *frameScratch {
	sc, _ := s.scratchPool.Get().(*frameScratch)
	if sc == nil {
		sc = &frameScratch{}
	}
	return sc
}

func (s *Server) putScratch(sc *frameScratch) {
	sc.g.Reset(64 << 10)
	s.scratchPool.Put(sc)
}

// assemble lays items out as WebSocket frames in sc.g: headers and small
// data copied together, larger data referenced unless copy is set (the
// connection is written with one Write). It stops after a close frame (a
// frame, or the raw rest of one) and reports it.
func (sc *frameScratch) assemble(items []outItem, copy bool) (closed bool) {
	g := &sc.g
	var h [maxFrameHeader + 1]byte
	for _, it := range items {
		data := it.data
		switch {
		case it.raw:
			closed = it.ctl == opClose
		case it.ctl == opClose:
			if data == nil {
				data = []byte{0x03, 0xe8} // 1000 normal closure
			}
			g.Append(appendFrameHeader(h[:0], opClose, len(data))...)
			closed = true
		case it.ctl != 0:
			g.Append(appendFrameHeader(h[:0], it.ctl, len(data))...)
		case it.binary:
			g.Append(appendFrameHeader(h[:0], opBinary, len(data))...)
		default:
			g.Append(append(appendFrameHeader(h[:0], opText, 1+len(data)), it.typ)...)
		}
		g.Add(data, copy)
		if closed {
			break
		}
	}
	return closed
}

// writeFrames writes items as WebSocket frames in one writev (one Write
// when the connection is not TCP), blocking until done or nc's write
// deadline. It stops after a close frame and reports it.
func (s *Server) writeFrames(wc *wsConn, items []outItem) (closed bool, err error) {
	sc := s.getScratch()
	closed = sc.assemble(items, !wc.tcp)
	bufs := net.Buffers(sc.g.Buffers())
	if len(bufs) == 1 {
		_, err = wc.nc.Write(bufs[0])
	} else {
		_, err = bufs.WriteTo(wc.nc)
	}
	s.putScratch(sc)
	return closed, err
}

// writeNow writes items without blocking: what the socket does not take at
// once is returned as raw items for the writer goroutine (the last one
// marked when the batch ends with a close frame). A write deadline left
// over from the writer goroutine that has passed since is not an error:
// everything is then returned.
func (s *Server) writeNow(wc *wsConn, items []outItem) (rest []outItem, closed bool, err error) {
	sc := s.getScratch()
	closed = sc.assemble(items, false)
	total := sc.g.Len()
	n, err := sc.rw.Writev(wc.raw, sc.g.Buffers())
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	if err == nil && n < total {
		for _, b := range sc.g.Rest(n) {
			rest = append(rest, outItem{raw: true, data: b})
		}
		if closed {
			rest[len(rest)-1].ctl = opClose
		}
	}
	s.putScratch(sc)
	return rest, closed, err
}

// startWriter starts the writer goroutine. Called with mu held, by the
// holder of the writer role (c.writing set).
func (c *Conn) startWriter() {
	c.blocked = true
	warm.Go(&c.srv.wg, c.writeLoop) // bound per start (warm.Go allocates its own closure anyway): not a field per connection
}

// writeLoop is the WebSocket writer goroutine of c: it runs while c has
// queued packets, writing each batch in one syscall. It holds the writer
// role (c.writing) until it returns.
func (c *Conn) writeLoop() {
	for {
		c.mu.Lock()
		if c.state == stateClosed || len(c.queue) == 0 {
			c.writing, c.blocked = false, false
			wake := c.takeDrainWait()
			c.mu.Unlock()
			runAll(wake)
			return
		}
		items := c.takeQueue()
		wc := c.ws
		c.mu.Unlock()

		c.setWriteDeadline(wc)
		closed, err := c.srv.writeFrames(wc, items)
		c.recycle(items)
		if err != nil {
			c.finish(reasonTransportError, 0)
			return
		}
		if closed {
			c.finish(reasonForcedClose, 0)
			return
		}
	}
}

// setWriteDeadline bounds the next write by WriteTimeout. It keeps the
// deadline already set while at least half of WriteTimeout of it is left,
// which spares a timer update per batch: a write is then bounded by
// between WriteTimeout/2 and WriteTimeout. Called by the writer role's
// holder only.
func (c *Conn) setWriteDeadline(wc *wsConn) {
	now := time.Now()
	if c.wdl-now.UnixNano() >= int64(c.srv.cfg.WriteTimeout/2) {
		return
	}
	dl := now.Add(c.srv.cfg.WriteTimeout)
	c.wdl = dl.UnixNano()
	_ = wc.nc.SetWriteDeadline(dl)
}

// writeInline is run by a sender that took the writer role in kick: it
// writes the queue without blocking, on the sender's goroutine, and hands
// over to a writer goroutine (which then waits for the socket, up to
// WriteTimeout) whatever the socket does not take at once. A slow client
// therefore never holds up the sender.
func (c *Conn) writeInline() {
	for round := 0; ; round++ {
		c.mu.Lock()
		if c.state == stateClosed || len(c.queue) == 0 {
			c.writing = false
			wake := c.takeDrainWait()
			c.mu.Unlock()
			runAll(wake)
			return
		}
		if round == inlineRounds {
			c.startWriter()
			c.mu.Unlock()
			return
		}
		items := c.takeQueue()
		wc := c.ws
		c.mu.Unlock()

		rest, closed, err := c.srv.writeNow(wc, items)
		c.recycle(items)
		switch {
		case err != nil:
			c.finish(reasonTransportError, 0)
			return
		case rest != nil:
			c.mu.Lock()
			if c.state == stateClosed {
				c.writing = false
			} else {
				size := 0
				for _, it := range rest {
					size += len(it.data) + itemOverhead
				}
				c.queue = append(rest, c.queue...)
				c.queued += size
				c.startWriter()
			}
			c.mu.Unlock()
			return
		case closed:
			c.finish(reasonForcedClose, 0)
			return
		}
	}
}
