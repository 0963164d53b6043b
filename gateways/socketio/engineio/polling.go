package engineio

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// upgradeGrace is how long a GET that arrives while an upgrade is being
// probed waits for data or for the upgrade to finish before it is answered
// with a noop (the Node.js server checks every 100 ms).
const upgradeGrace = 100 * time.Millisecond

// handshakePolling opens a polling session: the response is the open
// packet.
func (s *Server) handshakePolling(w http.ResponseWriter, r *http.Request, release func()) {
	c := s.newConn(r, TransportPolling, release)
	c.wake = make(chan struct{}, 1)
	if !s.open(c) {
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	}
	bp := s.getPayload()
	*bp = appendOpen((*bp)[:0], c.id, s.upgrades(TransportPolling), &s.cfg)
	writePayload(w, *bp)
	s.putPayload(bp)
}

// servePoll holds a GET until the session has packets to send, then
// answers with all of them in one payload.
func (s *Server) servePoll(w http.ResponseWriter, r *http.Request, c *Conn) {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		writeError(w, CodeUnknownSID, "")
		return
	}
	if c.polling {
		c.mu.Unlock()
		c.finish(reasonTransportError, typeClose)
		writeError(w, CodeBadRequest, "")
		return
	}
	c.polling = true
	lateToUpgrade := c.probed
	c.mu.Unlock()

	var grace <-chan time.Time
	if lateToUpgrade {
		t := time.NewTimer(upgradeGrace)
		defer t.Stop()
		grace = t.C
	}
	graceOver := false
	for first := true; ; first = false {
		items, tail, status, closeAfter := c.pollResult(lateToUpgrade, graceOver)
		if status != 0 {
			s.answerPoll(w, c, items, tail, status)
			if closeAfter {
				c.finish(reasonForcedClose, 0)
			}
			return
		}
		if first && !lateToUpgrade && s.holdPoll(w, r, c) {
			return // answered by the held GET's task
		}
		select {
		case <-c.wake:
		case <-grace:
			graceOver = true
		case <-r.Context().Done():
			c.mu.Lock()
			c.polling = false
			c.mu.Unlock()
			c.finish(reasonTransportError, 0)
			return
		}
	}
}

// answerPoll writes the answer pollResult decided: items then tail with
// status 200, or the 400 error. It gives items back to c.
func (s *Server) answerPoll(w http.ResponseWriter, c *Conn, items []outItem, tail byte, status int) {
	if status != http.StatusOK {
		writeError(w, CodeBadRequest, "")
		return
	}
	bp := s.getPayload()
	buf := appendPayload((*bp)[:0], items)
	if tail != 0 {
		if len(buf) > 0 {
			buf = append(buf, separator)
		}
		buf = append(buf, tail)
	}
	writePayload(w, buf)
	*bp = buf
	s.putPayload(bp)
	if items != nil {
		c.recycle(items)
		c.mu.Lock()
		wake := c.takeDrainWait()
		c.mu.Unlock()
		runAll(wake)
	}
}

// pollResult decides what a waiting GET answers. status is 0 to keep
// waiting, 200 to send items then tail (a packet type, or 0), 400 when the
// session moved to WebSocket meanwhile. closeAfter finishes a closing
// session once the answer is written.
func (c *Conn) pollResult(lateToUpgrade, graceOver bool) (items []outItem, tail byte, status int, closeAfter bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.state == stateClosed:
		if c.pollReply == 0 {
			return nil, 0, http.StatusBadRequest, false
		}
		tail, status = c.pollReply, http.StatusOK
	case c.websocket:
		if lateToUpgrade {
			status = http.StatusBadRequest
		} else {
			tail, status = typeNoop, http.StatusOK
		}
	case c.state == stateClosing:
		items, tail, status, closeAfter = c.takeQueue(), typeClose, http.StatusOK, true
	case len(c.queue) > 0:
		items, status = c.takeQueue(), http.StatusOK
	case c.probed && (!lateToUpgrade || graceOver):
		tail, status = typeNoop, http.StatusOK
	default:
		return nil, 0, 0, false
	}
	c.polling, c.held = false, nil
	return items, tail, status, closeAfter
}

// servePost reads a payload from the client and processes its packets.
func (s *Server) servePost(w http.ResponseWriter, r *http.Request, c *Conn) {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		writeError(w, CodeUnknownSID, "")
		return
	}
	if c.posting {
		c.mu.Unlock()
		c.finish(reasonTransportError, typeClose)
		writeError(w, CodeBadRequest, "")
		return
	}
	c.posting = true
	c.mu.Unlock()
	done := false
	postDone := func() {
		if !done {
			done = true
			c.mu.Lock()
			c.posting = false
			c.mu.Unlock()
		}
	}
	defer postDone()

	if r.Header.Get("Content-Type") == "application/octet-stream" {
		c.finish(reasonTransportError, typeClose)
		writeError(w, CodeBadRequest, "")
		return
	}
	body, err := readBody(r, s.cfg.MaxPayload)
	if err != nil {
		// The connection is closed after the answer: the rest of the body
		// is not waited for.
		w.Header().Set("Connection", "close")
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
	if err == errTooLarge {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		c.finish(reasonTransportError, typeClose)
		if isTimeout(err) {
			writeErrorStatus(w, http.StatusRequestTimeout, CodeBadRequest, "request body not received in time")
		} else {
			writeError(w, CodeBadRequest, "")
		}
		return
	}
	pkts, err := decodePayload(body)
	for _, p := range pkts {
		if p.typ == typeClose {
			c.awaitPoll()
		}
		if !c.handlePacket(p) {
			break
		}
	}
	if err != nil {
		c.finish(reasonParseError, typeClose)
		writeError(w, CodeBadRequest, "")
		return
	}
	// The POST is done before its answer leaves: park sends the answer
	// at once, and a client that posts again on seeing it must not find
	// this one still running (a second POST at a time closes the session).
	postDone()
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	_, _ = io.WriteString(w, "ok")
	s.park(w, r) // the connection waits for the client's next request off net/http
}

// closeGrace is how long a close packet waits for a GET to be in
// flight, so that it can be answered with a noop.
const closeGrace = 50 * time.Millisecond

// awaitPoll gives a GET sent together with a close packet (the client
// closing while it polls) a moment to arrive: the close packet then
// answers it with a noop, whatever order the two requests were read in.
func (c *Conn) awaitPoll() {
	for deadline := time.Now().Add(closeGrace); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		c.mu.Lock()
		ready := c.polling || c.state == stateClosed || c.websocket
		c.mu.Unlock()
		if ready {
			return
		}
	}
}

type bodyError string

func (e bodyError) Error() string { return string(e) }

const errTooLarge = bodyError("engineio: request body exceeds MaxPayload")

// readChunk is how much of a polling body is read into a buffer
// before it grows: a buffer grows with the bytes that arrived, never
// from the declared length alone.
const readChunk = 4 << 10

// readBody reads a request body of at most max bytes into a fresh buffer
// (the packets decoded from it alias it and are handed to the callback).
// The buffer grows as bytes arrive: a client that declares a megabyte
// and sends a byte holds a few kilobytes, not the megabyte.
func readBody(r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return nil, errTooLarge
	}
	if r.ContentLength >= 0 && r.ContentLength <= readChunk {
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	limit := max + 1
	if r.ContentLength >= 0 {
		limit = r.ContentLength
	}
	buf := make([]byte, 0, readChunk)
	for int64(len(buf)) < limit {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(int64(cap(buf)), limit-int64(len(buf)))))
		}
		n, err := r.Body.Read(buf[len(buf):min(int64(cap(buf)), limit)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	switch {
	case int64(len(buf)) > max:
		return nil, errTooLarge
	case r.ContentLength >= 0 && int64(len(buf)) < r.ContentLength:
		return nil, io.ErrUnexpectedEOF
	}
	return buf, nil
}

// isTimeout reports whether err is a deadline exceeded while reading (a
// request body that did not arrive in time).
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// writePayload answers a poll with a text payload.
func writePayload(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

func (s *Server) getPayload() *[]byte {
	if bp, ok := s.payloadPool.Get().(*[]byte); ok {
		return bp
	}
	b := make([]byte, 0, 512)
	return &b
}

func (s *Server) putPayload(bp *[]byte) {
	if cap(*bp) > 64<<10 {
		return
	}
	*bp = (*bp)[:0]
	s.payloadPool.Put(bp)
}
