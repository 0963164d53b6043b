package engineio

import (
	"syscall"
	"unsafe"
)

// rawWrites reports whether the engine writes to TCP sockets without
// blocking (writeNow), on the sender's goroutine.
const rawWrites = true

// rawWriter does non-blocking writevs through a RawConn. Its callback is
// bound once, so a write allocates nothing.
type rawWriter struct {
	bufs [][]byte
	n    int
	err  error
	fn   func(fd uintptr) bool
}

// writev writes as much of bufs as the socket takes now and returns how
// many bytes that was. The elements of bufs may be resliced. An error
// from RawConn.Write (the connection is closed, its write deadline has
// passed) means nothing was written.
func (w *rawWriter) writev(rc syscall.RawConn, bufs [][]byte) (int, error) {
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
func (w *rawWriter) write(fd uintptr) bool {
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
