package engineio

import (
	"errors"
	"net"
	"os"
	"time"
)

// inlineMax is the size under which message data is copied next to its
// frame header instead of getting its own iovec.
const inlineMax = 512

// inlineRounds bounds how many batches a sender writes itself (when other
// senders keep adding to the queue meanwhile) before it hands the queue to
// a writer goroutine.
const inlineRounds = 4

// frameScratch holds the buffers of one batch write.
type frameScratch struct {
	hdr  []byte
	segs []segment
	bufs net.Buffers
	rw   rawWriter // non-blocking writes (Linux)
}

// segment is a run of hdr (data == nil) or an external data slice.
type segment struct {
	off, end int
	data     []byte
}

func (s *Server) getScratch() *frameScratch {
	sc, _ := s.scratchPool.Get().(*frameScratch)
	if sc == nil {
		sc = &frameScratch{hdr: make([]byte, 0, 1024)}
	}
	return sc
}

func (s *Server) putScratch(sc *frameScratch) {
	clear(sc.segs)
	clear(sc.bufs[:cap(sc.bufs)])
	if cap(sc.hdr) > 64<<10 {
		return
	}
	sc.hdr, sc.segs, sc.bufs = sc.hdr[:0], sc.segs[:0], sc.bufs[:0]
	s.scratchPool.Put(sc)
}

// assemble lays items out as WebSocket frames: headers and small data in
// sc.hdr, larger data as segments of their own when gather is set (the
// connection supports writev). It stops after a close frame (a frame, or
// the raw rest of one) and reports it.
func (sc *frameScratch) assemble(items []outItem, gather bool) (closed bool) {
	hdr, segs := sc.hdr[:0], sc.segs[:0]
	start := 0
	for _, it := range items {
		data := it.data
		switch {
		case it.raw:
			closed = it.ctl == opClose
		case it.ctl == opClose:
			hdr = appendFrameHeader(hdr, opClose, 2)
			hdr = append(hdr, 0x03, 0xe8) // 1000 normal closure
			data, closed = nil, true
		case it.ctl != 0:
			hdr = appendFrameHeader(hdr, it.ctl, len(data))
		case it.binary:
			hdr = appendFrameHeader(hdr, opBinary, len(data))
		default:
			hdr = appendFrameHeader(hdr, opText, 1+len(data))
			hdr = append(hdr, it.typ)
		}
		if len(data) <= inlineMax || !gather {
			hdr = append(hdr, data...)
		} else {
			segs = append(segs, segment{off: start, end: len(hdr)}, segment{data: data})
			start = len(hdr)
		}
		if closed {
			break
		}
	}
	if start < len(hdr) {
		segs = append(segs, segment{off: start, end: len(hdr)})
	}
	sc.hdr, sc.segs = hdr, segs
	return closed
}

// buffers returns the assembled segments as buffers for one writev.
func (sc *frameScratch) buffers() net.Buffers {
	bufs := sc.bufs[:0]
	for _, sg := range sc.segs {
		if sg.data != nil {
			bufs = append(bufs, sg.data)
		} else {
			bufs = append(bufs, sc.hdr[sg.off:sg.end])
		}
	}
	sc.bufs = bufs
	return bufs
}

// rest returns what remains of the assembled segments after their first
// n bytes were written, as raw items: the part in hdr copied (the scratch
// is reused), external data referenced. The last item is marked when the
// batch ends with a close frame.
func (sc *frameScratch) rest(n int, closed bool) []outItem {
	var out []outItem
	for _, sg := range sc.segs {
		b := sg.data
		if b == nil {
			b = sc.hdr[sg.off:sg.end]
		}
		if n >= len(b) {
			n -= len(b)
			continue
		}
		b, n = b[n:], 0
		if sg.data == nil {
			b = append([]byte(nil), b...)
		}
		out = append(out, outItem{raw: true, data: b})
	}
	if closed && len(out) > 0 {
		out[len(out)-1].ctl = opClose
	}
	return out
}

// writeFrames writes items as WebSocket frames in one writev (one Write
// when the connection is not TCP), blocking until done or nc's write
// deadline. It stops after a close frame and reports it.
func (s *Server) writeFrames(wc *wsConn, items []outItem) (closed bool, err error) {
	sc := s.getScratch()
	closed = sc.assemble(items, wc.tcp)
	if len(sc.segs) == 1 {
		_, err = wc.nc.Write(sc.hdr)
	} else {
		bufs := sc.buffers()
		_, err = bufs.WriteTo(wc.nc)
	}
	s.putScratch(sc)
	return closed, err
}

// writeNow writes items without blocking: what the socket does not take at
// once is returned as raw items for the writer goroutine. A write deadline
// left over from the writer goroutine that has passed since is not an
// error: everything is then returned.
func (s *Server) writeNow(wc *wsConn, items []outItem) (rest []outItem, closed bool, err error) {
	sc := s.getScratch()
	closed = sc.assemble(items, true)
	bufs := sc.buffers()
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	n, err := sc.rw.writev(wc.raw, bufs)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	if err == nil && n < total {
		rest = sc.rest(n, closed)
	}
	s.putScratch(sc)
	return rest, closed, err
}

// startWriter starts the writer goroutine. Called with mu held, by the
// holder of the writer role (c.writing set).
func (c *Conn) startWriter() {
	if c.writeFn == nil {
		c.writeFn = c.writeLoop
	}
	c.srv.wg.Go(c.writeFn)
}

// writeLoop is the WebSocket writer goroutine of c: it runs while c has
// queued packets, writing each batch in one syscall. It holds the writer
// role (c.writing) until it returns.
func (c *Conn) writeLoop() {
	for {
		c.mu.Lock()
		if c.state == stateClosed || len(c.queue) == 0 {
			c.writing = false
			c.mu.Unlock()
			return
		}
		items := c.takeQueue()
		wc := c.ws
		c.mu.Unlock()

		c.setWriteDeadline(wc)
		closed, err := c.srv.writeFrames(wc, items)
		c.recycle(items)
		if err != nil {
			c.finish(ReasonTransportError, 0)
			return
		}
		if closed {
			c.finish(ReasonForcedClose, 0)
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
	if c.wdl.Sub(now) >= c.srv.cfg.WriteTimeout/2 {
		return
	}
	c.wdl = now.Add(c.srv.cfg.WriteTimeout)
	_ = wc.nc.SetWriteDeadline(c.wdl)
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
			c.mu.Unlock()
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
			c.finish(ReasonTransportError, 0)
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
			c.finish(ReasonForcedClose, 0)
			return
		}
	}
}
