package main

import (
	"bytes"
	"errors"
	"io"
)

// maxLine bounds an SSE line (one data: line of a large event fits).
const maxLine = 16 << 20

// sseEvent is one dispatched Server-Sent Event. Its slices alias the
// parser's buffers: valid only during the callback.
type sseEvent struct {
	typ   []byte // "message" when the stream gave no event: field
	id    []byte // the last id: seen on the stream (it persists across events)
	hasID bool   // this event carried an id: line
	data  []byte
}

// sseParser parses a text/event-stream fed to it in chunks of any size
// (lines end with \n or \r\n). Lines within a chunk are not copied. Not
// safe for concurrent use.
type sseParser struct {
	carry    []byte // a line split over chunks, gathered
	typ      []byte
	id       []byte
	data     []byte
	hasID    bool
	dataSeen bool // the event being read has a data: line
}

var msgType = []byte("message")

// feed parses b, calling fn for every complete event.
func (p *sseParser) feed(b []byte, fn func(*sseEvent) error) error {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(p.carry)+len(b) > maxLine {
				return errors.New("SSE line too long")
			}
			p.carry = append(p.carry, b...)
			return nil
		}
		line := b[:i]
		b = b[i+1:]
		if len(p.carry) > 0 {
			p.carry = append(p.carry, line...)
			line = p.carry
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		err := p.line(line, fn)
		p.carry = p.carry[:0]
		if err != nil {
			return err
		}
	}
	return nil
}

// line applies one line; an empty one dispatches the event.
func (p *sseParser) line(l []byte, fn func(*sseEvent) error) error {
	if len(l) > 0 {
		p.field(l)
		return nil
	}
	if !p.dataSeen {
		p.typ, p.hasID = p.typ[:0], false
		return nil
	}
	ev := sseEvent{typ: p.typ, id: p.id, hasID: p.hasID, data: p.data}
	if len(ev.typ) == 0 {
		ev.typ = msgType
	}
	if n := len(ev.data); n > 0 && ev.data[n-1] == '\n' {
		ev.data = ev.data[:n-1]
	}
	err := fn(&ev)
	p.typ, p.data, p.hasID, p.dataSeen = p.typ[:0], p.data[:0], false, false
	return err
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

// chunkDecoder decodes a chunked HTTP/1.1 body fed to it in pieces of any
// size; feed returns io.EOF after the last chunk.
type chunkDecoder struct {
	state int    // one of the chunk* states
	line  []byte // a chunk-size or trailer line split over pieces
	left  uint64 // bytes left in the current chunk
}

const (
	chunkSize = iota
	chunkData
	chunkCRLF
	chunkTrailer
	chunkDone
)

// feed decodes b, handing the body's bytes to out.
func (d *chunkDecoder) feed(b []byte, out func([]byte) error) error {
	for len(b) > 0 || d.state == chunkDone {
		switch d.state {
		case chunkData:
			n := min(uint64(len(b)), d.left)
			if err := out(b[:n]); err != nil {
				return err
			}
			b, d.left = b[n:], d.left-n
			if d.left == 0 {
				d.state = chunkCRLF
			}
			continue
		case chunkDone:
			return io.EOF
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(d.line)+len(b) > 4096 {
				return errors.New("malformed chunked encoding")
			}
			d.line = append(d.line, b...)
			return nil
		}
		line := append(d.line, b[:i+1]...)
		d.line, b = line[:0], b[i+1:]
		switch d.state {
		case chunkSize:
			n, err := parseHex(line)
			if err != nil {
				return err
			}
			d.state, d.left = chunkData, n
			if n == 0 {
				d.state = chunkTrailer
			}
		case chunkCRLF:
			if len(bytes.TrimRight(line, "\r\n")) != 0 {
				return errors.New("malformed chunked encoding")
			}
			d.state = chunkSize
		case chunkTrailer:
			if len(bytes.TrimRight(line, "\r\n")) == 0 {
				d.state = chunkDone
			}
		}
	}
	return nil
}
