package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"sync"
	"syscall"
)

// readStream reads nc until it fails or fn returns an error, handing fn
// each chunk read (valid only during the call). It reads until EAGAIN on
// every wake-up: the netpoller is edge-triggered, and a peer's hang-up
// that arrives together with the last data (the end of a close-delimited
// SSE body) is signalled only once. Buffers come from
// bufs (*[]byte) and go back after each chunk, so an idle connection holds
// none.
func readStream(nc net.Conn, bufs *sync.Pool, fn func([]byte) error) error {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return readLoop(nc, bufs, fn)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			bp := bufs.Get().(*[]byte)
			n, err := syscall.Read(int(fd), *bp)
			switch {
			case err == syscall.EINTR:
				bufs.Put(bp)
				continue
			case err == syscall.EAGAIN:
				bufs.Put(bp)
				return false // wait for data
			case err != nil:
				bufs.Put(bp)
				ferr = err
				return true
			case n == 0:
				bufs.Put(bp)
				ferr = io.EOF
				return true
			}
			ferr = fn((*bp)[:n])
			bufs.Put(bp)
			if ferr != nil {
				return true
			}
			// Read on until EAGAIN even after a short read: the poller is
			// edge-triggered, so a hang-up that arrived with the data (a
			// close-delimited body's end) would never be signalled again.
		}
	})
	if ferr != nil {
		return ferr
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// readLoop is readStream for connections without a file descriptor.
func readLoop(nc net.Conn, bufs *sync.Pool, fn func([]byte) error) error {
	for {
		bp := bufs.Get().(*[]byte)
		n, err := nc.Read(*bp)
		if n > 0 {
			if ferr := fn((*bp)[:n]); ferr != nil {
				bufs.Put(bp)
				return ferr
			}
		}
		bufs.Put(bp)
		if err != nil {
			return err
		}
	}
}

// errPause stops readStream once the caller has what it waited for.
var errPause = errors.New("pause reading")

// errNoPoll: the connection cannot be read by the livePoller.
var errNoPoll = errors.New("no file descriptor to poll")

// WebSocket (RFC 6455) opcodes.
const (
	wsCont  = 0x0
	wsText  = 0x1
	wsBin   = 0x2
	wsClose = 0x8
	wsPing  = 0x9
	wsPong  = 0xA
)

// maxMessage bounds a WebSocket message the tool accepts.
const maxMessage = 64 << 20

// dialWS opens a WebSocket to path on addr and returns the connection and
// the bytes that arrived after the handshake response.
func dialWS(ctx context.Context, d *net.Dialer, addr, host, path string) (net.Conn, []byte, error) {
	hc, err := dialHTTP(ctx, d, addr)
	if err != nil {
		return nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		hc.nc.SetDeadline(dl)
	}
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	hc.startRequest("GET", path, host)
	hc.header("Upgrade", "websocket")
	hc.header("Connection", "Upgrade")
	hc.header("Sec-WebSocket-Key", key)
	hc.header("Sec-WebSocket-Version", "13")
	if err := hc.send(nil); err != nil {
		hc.close()
		return nil, nil, err
	}
	hd, err := hc.readHead()
	if err != nil {
		hc.close()
		return nil, nil, err
	}
	if hd.status != 101 {
		body, _ := hc.readBody(hd)
		hc.close()
		return nil, nil, fmt.Errorf("websocket handshake: %w", &errStatus{hd.status, string(body)})
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if string(hd.accept) != base64.StdEncoding.EncodeToString(sum[:]) {
		hc.close()
		return nil, nil, errors.New("websocket handshake: bad Sec-WebSocket-Accept")
	}
	rest, _ := hc.br.Peek(hc.br.Buffered())
	return hc.nc, bytes.Clone(rest), nil
}

// wsReader parses the frames of a server's WebSocket stream fed to it in
// chunks of any size. A message within one chunk is handed on without a
// copy; one split over chunks (or fragmented) is gathered in msg.
type wsReader struct {
	hdr  [14]byte
	hn   int    // header bytes gathered
	op   byte   // opcode of the frame being read
	fin  bool   // it ends its message
	need uint64 // its payload bytes still to come
	msg  []byte // the message being gathered
	ctl  []byte // the control frame being gathered
	mop  byte   // the message's opcode
	frag bool   // a fragmented message is in progress
}

// feed parses p; onMsg gets every complete data message, onCtl every
// control frame (ping, pong, close); their slices are valid only during
// the call.
func (r *wsReader) feed(p []byte, onMsg func(op byte, msg []byte) error, onCtl func(op byte, payload []byte) error) error {
	for len(p) > 0 {
		if r.hn < 2 || r.hn < frameHeaderLen(r.hdr[1]) {
			want := 2
			if r.hn >= 2 {
				want = frameHeaderLen(r.hdr[1])
			}
			n := copy(r.hdr[r.hn:want], p)
			r.hn += n
			p = p[n:]
			if r.hn < want || r.hn < frameHeaderLen(r.hdr[1]) {
				continue // more header to come
			}
			if err := r.startFrame(); err != nil {
				return err
			}
			if r.need == 0 {
				if err := r.endFrame(onMsg, onCtl); err != nil {
					return err
				}
			}
			continue
		}
		n := min(uint64(len(p)), r.need)
		if r.op < wsClose && !r.frag && r.fin && len(r.msg) == 0 && n == r.need {
			// The whole message is in p: no copy.
			r.need, r.hn = 0, 0
			if err := onMsg(r.op, p[:n]); err != nil {
				return err
			}
			p = p[n:]
			continue
		}
		if r.op >= wsClose {
			r.ctl = append(r.ctl, p[:n]...)
		} else if uint64(len(r.msg))+n > maxMessage {
			return errors.New("websocket message too large")
		} else {
			r.msg = append(r.msg, p[:n]...)
		}
		r.need -= n
		p = p[n:]
		if r.need == 0 {
			if err := r.endFrame(onMsg, onCtl); err != nil {
				return err
			}
		}
	}
	return nil
}

// frameHeaderLen is the header length given its second byte.
func frameHeaderLen(b1 byte) int {
	switch b1 & 0x7F {
	case 126:
		return 4
	case 127:
		return 10
	}
	return 2
}

// startFrame reads the gathered header.
func (r *wsReader) startFrame() error {
	b0, b1 := r.hdr[0], r.hdr[1]
	if b1&0x80 != 0 {
		return errors.New("websocket: masked frame from the server")
	}
	if b0&0x70 != 0 {
		return errors.New("websocket: reserved bits set")
	}
	r.op, r.fin = b0&0x0F, b0&0x80 != 0
	switch n := b1 & 0x7F; n {
	case 126:
		r.need = uint64(binary.BigEndian.Uint16(r.hdr[2:4]))
	case 127:
		r.need = binary.BigEndian.Uint64(r.hdr[2:10])
	default:
		r.need = uint64(n)
	}
	if r.need > maxMessage {
		return errors.New("websocket frame too large")
	}
	switch {
	case r.op >= wsClose:
		if !r.fin || r.need > 125 {
			return errors.New("websocket: bad control frame")
		}
		r.ctl = r.ctl[:0] // (possibly within a fragmented message)
	case r.op == wsCont:
		if !r.frag {
			return errors.New("websocket: continuation without a message")
		}
	case r.op == wsText || r.op == wsBin:
		if r.frag {
			return errors.New("websocket: new message inside a fragmented one")
		}
		r.mop, r.msg = r.op, r.msg[:0]
		r.frag = !r.fin
	default:
		return fmt.Errorf("websocket: unknown opcode %d", r.op)
	}
	return nil
}

// endFrame completes a frame whose payload was gathered in msg.
func (r *wsReader) endFrame(onMsg func(byte, []byte) error, onCtl func(byte, []byte) error) error {
	r.hn = 0
	if r.op >= wsClose {
		return onCtl(r.op, r.ctl)
	}
	if !r.fin {
		return nil
	}
	r.frag = false
	err := onMsg(r.mop, r.msg)
	r.msg = r.msg[:0]
	return err
}

// appendWSFrame appends a final, masked client frame.
func appendWSFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n < 1<<16:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	var mask [4]byte
	binary.LittleEndian.PutUint32(mask[:], mrand.Uint32())
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[start+i] ^= mask[i&3]
	}
	return dst
}

// newBufPool returns a pool of size-byte read buffers.
func newBufPool(size int) *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]byte, size); return &b }}
}
