package main

import (
	"bufio"
	"bytes"
	"errors"
)

// sseEvent is one dispatched Server-Sent Event. Its slices alias the
// parser's buffers: valid until the next call of next.
type sseEvent struct {
	typ   []byte // "message" when the stream gave no event: field
	id    []byte // the last id: seen on the stream (it persists across events)
	hasID bool   // this event carried an id: line
	data  []byte
}

// sseParser reads a text/event-stream incrementally, one line at a time
// out of its bufio.Reader (no copy unless a line is longer than the
// buffer). Not safe for concurrent use.
type sseParser struct {
	r     *bufio.Reader
	long  []byte // a line longer than r's buffer, gathered
	typ   []byte
	id    []byte
	hasID bool
	data  []byte
	ev    sseEvent
	// dataSeen: the event being read has a data: line; done: the last
	// event was returned and its buffers are to be reset.
	dataSeen, done bool
}

var msgType = []byte("message")

// next returns the next event, skipping comments and retry: lines. The
// event's slices alias the parser's buffers until next is called again.
func (p *sseParser) next() (*sseEvent, error) {
	if p.done {
		p.typ, p.data, p.done = p.typ[:0], p.data[:0], false
	}
	for {
		line, err := p.line()
		if err != nil {
			return nil, err
		}
		if len(line) > 0 {
			p.field(line)
			continue
		}
		if !p.dataSeen {
			p.typ, p.hasID = p.typ[:0], false
			continue
		}
		p.ev = sseEvent{typ: p.typ, id: p.id, hasID: p.hasID, data: p.data}
		if len(p.ev.typ) == 0 {
			p.ev.typ = msgType
		}
		if n := len(p.ev.data); n > 0 && p.ev.data[n-1] == '\n' {
			p.ev.data = p.ev.data[:n-1]
		}
		p.dataSeen, p.hasID, p.done = false, false, true
		return &p.ev, nil
	}
}

// line returns the next line without its end of line (\n or \r\n).
func (p *sseParser) line() ([]byte, error) {
	p.long = p.long[:0]
	for {
		l, err := p.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			p.long = append(p.long, l...)
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(p.long) > 0 {
			p.long = append(p.long, l...)
			l = p.long
		}
		l = l[:len(l)-1]
		if len(l) > 0 && l[len(l)-1] == '\r' {
			l = l[:len(l)-1]
		}
		return l, nil
	}
}

// field applies one "name: value" line.
func (p *sseParser) field(line []byte) {
	if line[0] == ':' {
		return // comment
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "event":
		p.typ = append(p.typ[:0], value...)
	case "data":
		p.dataSeen = true
		p.data = append(p.data, value...)
		p.data = append(p.data, '\n')
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.id = append(p.id[:0], value...)
			p.hasID = true
		}
	}
}
