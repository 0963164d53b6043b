package rawio

// inlineMax is the size up to which a piece is copied next to the others
// instead of getting an iovec of its own.
const inlineMax = 512

// Gather lays out the pieces of one vectored write: pieces up to 512 bytes
// are copied into a buffer of its own, larger ones (shared, never
// modified) are referenced. The zero value is ready; Reset empties it for
// reuse. Not safe for concurrent use.
type Gather struct {
	buf  []byte
	segs []seg
	bufs [][]byte
	open int // start in buf of the run not yet closed into a seg
}

// seg is a run of buf (data == nil) or an external piece.
type seg struct {
	off, end int
	data     []byte
}

// Append adds the bytes of small pieces (copied), for building frame
// headers and such in place.
func (g *Gather) Append(p ...byte) { g.buf = append(g.buf, p...) }

// Add adds a piece: copied when small, referenced (and kept until the
// write is done) otherwise. With copy set it is always copied (for a
// connection that is written with one Write rather than a writev).
func (g *Gather) Add(p []byte, copy bool) {
	if copy || len(p) <= inlineMax {
		g.buf = append(g.buf, p...)
		return
	}
	if g.open < len(g.buf) {
		g.segs = append(g.segs, seg{off: g.open, end: len(g.buf)})
		g.open = len(g.buf)
	}
	g.segs = append(g.segs, seg{data: p})
}

// Len returns the bytes added.
func (g *Gather) Len() int {
	n := len(g.buf)
	for _, s := range g.segs {
		n += len(s.data)
	}
	return n
}

// Buffers returns the pieces in order, for one writev. They are valid
// until the next Add, Append or Reset.
func (g *Gather) Buffers() [][]byte {
	g.close()
	bufs := g.bufs[:0]
	for _, s := range g.segs {
		if s.data != nil {
			bufs = append(bufs, s.data)
		} else {
			bufs = append(bufs, g.buf[s.off:s.end])
		}
	}
	g.bufs = bufs
	return bufs
}

// Rest returns what follows the first n bytes, for a later write: the
// parts in the Gather's own buffer copied (it is reused), external pieces
// referenced. nil when nothing is left.
func (g *Gather) Rest(n int) [][]byte {
	g.close()
	var out [][]byte
	for _, s := range g.segs {
		b := s.data
		if b == nil {
			b = g.buf[s.off:s.end]
		}
		if n >= len(b) {
			n -= len(b)
			continue
		}
		b, n = b[n:], 0
		if s.data == nil {
			b = append([]byte(nil), b...)
		}
		out = append(out, b)
	}
	return out
}

// Reset empties the Gather, dropping its references to external pieces.
// It keeps its buffer unless that grew past max bytes.
func (g *Gather) Reset(max int) {
	clear(g.segs)
	clear(g.bufs[:cap(g.bufs)])
	g.segs, g.bufs, g.open = g.segs[:0], g.bufs[:0], 0
	if cap(g.buf) > max {
		g.buf = nil
	}
	g.buf = g.buf[:0]
}

// close ends the open run of buf. Idempotent.
func (g *Gather) close() {
	if g.open < len(g.buf) {
		g.segs = append(g.segs, seg{off: g.open, end: len(g.buf)})
		g.open = len(g.buf)
	}
}
