package rawio

import (
	"io"
	"syscall"
	"unsafe"
)

// Supported reports whether Writer and PeerClosed work on this system.
const Supported = true

// Writer does non-blocking writevs through a RawConn. Its RawConn callback
// is bound once, so a write allocates nothing. The zero value is ready to
// use; a Writer must not be used by two goroutines at once.
type Writer struct {
	bufs [][]byte
	n    int
	err  error
	fn   func(fd uintptr) bool
}

// Writev writes as much of bufs as the socket takes now, without waiting,
// and returns how many bytes that was. The elements of bufs may be
// resliced. An error from rc.Write (the connection is closed, or a write
// deadline set on it has passed) means nothing was written; other errors
// are the socket's (EPIPE, ECONNRESET…).
func (w *Writer) Writev(rc syscall.RawConn, bufs [][]byte) (int, error) {
	if w.fn == nil {
		w.fn = w.write
	}
	w.bufs, w.n, w.err = bufs, 0, nil
	err := rc.Write(w.fn)
	n := w.n
	if err == nil {
		err = w.err
	}
	w.bufs, w.err = nil, nil
	return n, err
}

// write is the RawConn callback: writev until everything is written or
// the socket is full. It always returns true: never wait for the socket.
func (w *Writer) write(fd uintptr) bool {
	var iov [64]syscall.Iovec
	bufs := w.bufs
	for {
		for len(bufs) > 0 && len(bufs[0]) == 0 {
			bufs = bufs[1:]
		}
		if len(bufs) == 0 {
			return true
		}
		k := 0
		for _, b := range bufs {
			if k == len(iov) {
				break
			}
			if len(b) == 0 {
				continue
			}
			iov[k].Base = &b[0]
			iov[k].SetLen(len(b))
			k++
		}
		m, _, e := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(k))
		switch e {
		case 0:
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return true
		default:
			w.err = e
			return true
		}
		if m == 0 {
			return true
		}
		w.n += int(m)
		for m > 0 {
			if int(m) >= len(bufs[0]) {
				m -= uintptr(len(bufs[0]))
				bufs = bufs[1:]
			} else {
				bufs[0] = bufs[0][m:]
				m = 0
			}
		}
	}
}

// PeerClosed reports whether the peer of rc has closed its side or reset
// the connection, without waiting and without consuming anything it sent:
// a peek that finds the end of the stream or an error. Data waiting to be
// read does not count as closed.
func PeerClosed(rc syscall.RawConn) bool {
	closed := false
	err := rc.Read(func(fd uintptr) bool {
		var b [1]byte
		for {
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
			case err != nil || n == 0:
				closed = true
			}
			return true
		}
	})
	return closed || err != nil
}

// Discard reads and drops up to max bytes the peer of rc sent, without
// waiting, and reports whether the peer has closed its side (or the
// connection failed).
func Discard(rc syscall.RawConn, max int) (closed bool) {
	err := rc.Read(func(fd uintptr) bool {
		var b [4096]byte
		for max > 0 {
			n, err := syscall.Read(int(fd), b[:min(len(b), max)])
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return true
			case err != nil || n == 0:
				closed = true
				return true
			}
			max -= n
		}
		return true
	})
	return closed || err != nil
}

// Read reads into p what the socket of rc holds now, without waiting:
// 0 and a nil error when it holds nothing; io.EOF when the peer has
// closed its side. Errors from rc.Read (the connection is closed) and the
// socket's (ECONNRESET…) are returned as they are.
func Read(rc syscall.RawConn, p []byte) (n int, err error) {
	if len(p) == 0 {
		return 0, nil
	}
	rerr := rc.Read(func(fd uintptr) bool {
		for {
			n, err = syscall.Read(int(fd), p)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				n, err = 0, nil
			case err != nil:
				n = 0
			case n == 0:
				err = io.EOF
			}
			return true
		}
	})
	if rerr != nil {
		return 0, rerr
	}
	return n, err
}
