package front

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// serveRequest serves the request of head h with the server's handler.
// after is what the connection's buffer holds past the head: the start of
// the body, perhaps more. It returns what is left of after once the body
// is consumed (the next request's first bytes), whether the connection
// may serve another request, and whether the handler hijacked it.
//
// The request's context is the connection's (ConnContext's), without a
// cancel of its own: nothing would cancel it while the handler runs (the
// front does not watch the connection meanwhile), and a cancel context
// costs three allocations a request.
func (c *conn) serveRequest(h head, after []byte) (rest []byte, keep, hijacked bool) {
	x := c.exchange()
	u := &x.url
	if plainPath(h.target) {
		u.Path = h.target // what url.ParseRequestURI returns for it
	} else {
		var err error
		if u, err = url.ParseRequestURI(h.target); err != nil {
			return nil, false, false
		}
	}
	r := &x.req
	*r = x.ctxReq
	r.Method, r.URL, r.Proto, r.ProtoMajor, r.ProtoMinor = h.method, u, "HTTP/1.1", 1, 1
	r.Header, r.Host, r.RemoteAddr, r.RequestURI = h.header, h.host, c.remote, h.target
	r.ContentLength, r.Close, r.Body = h.length, h.close, http.NoBody
	var b *body
	if h.length > 0 {
		take := min(int64(len(after)), h.length)
		x.body = body{c: c, buffered: after[:take], left: h.length}
		b = &x.body
		r.Body = b
		after = after[take:]
	}
	w := &x.w
	*w = response{c: c, r: r, header: x.header}
	if b == nil {
		w.pending = after
	}
	c.l.srv.Handler.ServeHTTP(w, r)
	c.bodyDL = time.Time{}
	if w.hijacked {
		return nil, false, true // the connection ends here: x is never reused
	}
	keep = !h.close && (b == nil || b.left == 0) && !hasToken(w.header["Connection"], "close") && !c.l.isDraining()
	ok := w.finish(keep)
	x.reset()
	if !ok {
		return nil, false, false
	}
	return after, keep, false
}

// exchange is a connection's request and answer, reused from one request
// to the next (a handler must not keep them once it returned): allocated
// at the first request the front serves, emptied after each. A hijacked
// connection's is never reused.
type exchange struct {
	ctxReq http.Request // a request with nothing but the connection's context: req's zero
	req    http.Request
	url    url.URL
	body   body
	w      response
	header http.Header // the answer's fields
}

// exchange returns c's exchange, empty.
func (c *conn) exchange() *exchange {
	if c.x == nil {
		// Request.WithContext is the one way to give a request a context;
		// copies of ctxReq keep it.
		c.x = &exchange{ctxReq: *new(http.Request).WithContext(c.ctx)}
	}
	if c.x.header == nil {
		c.x.header = make(http.Header, 4)
	}
	return c.x
}

// reset empties x for the next request, letting go of what the last one
// held (an idle connection keeps none of it), and of an answer header map
// a handler grew large.
func (x *exchange) reset() {
	x.req, x.url, x.body, x.w = x.ctxReq, url.URL{}, body{}, response{}
	if len(x.header) > maxReusedFields {
		x.header = nil
	} else {
		clear(x.header)
	}
}

// maxReusedFields is the most header fields whose map a connection keeps
// for its next request.
const maxReusedFields = 16

// plainPath reports whether the request target t is a path that
// url.ParseRequestURI returns as it is (URL{Path: t}): no query, no
// escape, and only characters its escaping leaves alone.
func plainPath(t string) bool {
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == '~', c == '$', c == '&', c == '+', c == ',', c == '/', c == ':', c == ';', c == '=', c == '@':
		default:
			return false
		}
	}
	return true
}

// body is a request body: the bytes that came with the head, then the
// connection, never past Content-Length.
type body struct {
	c        *conn
	buffered []byte
	left     int64 // bytes of the body not read yet
	err      error // the read error that ended it early
}

func (b *body) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	var n int
	if len(b.buffered) > 0 {
		n = copy(p, b.buffered)
		b.buffered = b.buffered[n:]
	} else {
		var err error
		b.c.setRead(b.c.bodyDL, true) // the handler's deadline, or none
		n, err = b.c.nc.Read(p)
		if err != nil && (n == 0 || !errors.Is(err, io.EOF)) {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			b.err = err
		}
	}
	b.left -= int64(n)
	if b.left == 0 {
		return n, io.EOF
	}
	return n, b.err
}

func (b *body) Close() error { return nil }

// response is the http.ResponseWriter of a request the front serves: it
// keeps the answer and writes it once the handler returns.
type response struct {
	c        *conn
	r        *http.Request
	header   http.Header
	status   int
	out      *[]byte // the body written so far: a pooled buffer, or nil
	pending  []byte  // read past a bodiless request's head: the hijacker's
	hijacked bool
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(status int) {
	if w.status == 0 && !w.hijacked {
		w.status = status
	}
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.out == nil {
		w.out = w.c.l.answer()
	}
	*w.out = append(*w.out, p...)
	return len(p), nil
}

// SetReadDeadline is http.ResponseController's: the deadline of the
// body's reads, set on the socket when one reads from it (a body that
// came with its head needs none). After a hijack it is the socket's.
func (w *response) SetReadDeadline(t time.Time) error {
	if w.hijacked {
		return w.c.nc.SetReadDeadline(t)
	}
	w.c.bodyDL = t
	return nil
}

// SetWriteDeadline is http.ResponseController's: the answer is written
// after the handler returns, with the front's own write deadline.
func (w *response) SetWriteDeadline(t time.Time) error {
	if w.hijacked {
		return w.c.nc.SetWriteDeadline(t)
	}
	return nil
}

// Hijack implements http.Hijacker. The reader holds what came after the
// head, as net/http's does.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.status != 0 {
		return nil, nil, errors.New("front: hijack after the answer started")
	}
	w.hijacked = true
	w.c.clearDeadlines()
	w.c.state(http.StateHijacked)
	w.c.l.mu.Lock()
	delete(w.c.l.conns, w.c)
	w.c.l.mu.Unlock()
	var br *bufio.Reader
	if len(w.pending) == 0 {
		br = bufio.NewReaderSize(w.c.nc, 16)
	} else {
		p := append([]byte(nil), w.pending...)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(p), w.c.nc), max(16, len(p)))
		br.Peek(len(p))
	}
	return w.c.nc, bufio.NewReadWriter(br, bufio.NewWriterSize(w.c.nc, 16)), nil
}

// finish writes the answer: the status line, the header fields (sorted,
// with Date and Content-Length as net/http adds them, and Connection:
// close unless keep), and the body, in one write. It reports whether the
// write succeeded.
func (w *response) finish(keep bool) bool {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	var out []byte
	if w.out != nil {
		out = *w.out
	}
	bodyAllowed := status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
	if !bodyAllowed {
		out = out[:0]
	}
	if _, ok := w.header["Content-Type"]; !ok && len(out) > 0 {
		w.header.Set("Content-Type", http.DetectContentType(out))
	}
	bp := w.c.l.answer()
	b := append(*bp, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(append(append(b, ' '), http.StatusText(status)...), "\r\n"...)
	keys := make([]string, 0, len(w.header))
	for k := range w.header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "Content-Length" || k == "Connection" || k == "Date" || k == "Transfer-Encoding" {
			continue
		}
		for _, v := range w.header[k] {
			b = appendField(b, k, v)
		}
	}
	b = appendField(b, "Date", w.c.l.httpDate())
	if bodyAllowed {
		b = append(b, "Content-Length: "...)
		b = append(strconv.AppendInt(b, int64(len(out)), 10), "\r\n"...)
	}
	if !keep {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(append(b, "\r\n"...), out...)
	w.c.setWrite(deadline(w.c.l.writeTimeout)) // kept for the next answers; lifted at a hand-over
	_, err := w.c.nc.Write(b)
	*bp = b
	w.c.l.putAnswer(bp)
	if w.out != nil {
		*w.out = out
		w.c.l.putAnswer(w.out)
		w.out = nil
	}
	return err == nil
}

// appendField appends "k: v\r\n", with any CR or LF of v made a space as
// net/http does.
func appendField(b []byte, k, v string) []byte {
	b = append(append(b, k...), ": "...)
	start := len(b)
	b = append(b, v...)
	for i := start; i < len(b); i++ { // values are short: no set to build as bytes.ContainsAny does
		if b[i] == '\r' || b[i] == '\n' {
			b[i] = ' '
		}
	}
	return append(b, "\r\n"...)
}

// httpDate returns the Date field's value for now, formatted once a
// second.
func (l *Listener) httpDate() string {
	now := time.Now().Unix()
	if d := l.date.Load(); d != nil && d.unix == now {
		return d.text
	}
	d := &dateText{unix: now, text: time.Unix(now, 0).UTC().Format(http.TimeFormat)}
	l.date.Store(d)
	return d.text
}

// dateText is a second's Date field value.
type dateText struct {
	unix int64
	text string
}

// answer returns an empty buffer for an answer, to give back with
// putAnswer.
func (l *Listener) answer() *[]byte {
	if bp, _ := l.answers.Get().(*[]byte); bp != nil {
		*bp = (*bp)[:0]
		return bp
	}
	b := make([]byte, 0, 2048)
	return &b
}

// putAnswer gives an answer's buffer back, unless it grew large.
func (l *Listener) putAnswer(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		*bp = (*bp)[:0]
		l.answers.Put(bp)
	}
}
