package main

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// livePoller reads the live WebSocket connections of one process from a
// single goroutine over a level-triggered epoll set: one read per ready
// connection and no goroutine wake-up per read. With a goroutine per
// connection on Go's (edge-triggered) netpoller, every batch of events
// costs a park and a wake-up and a second read to see EAGAIN; at a few
// hundred thousand deliveries a second that made the tool, not the
// server, the limit of a fan-out.
type livePoller struct {
	epfd   int
	buf    []byte // the loop's read buffer
	mu     sync.Mutex
	regs   map[int]*liveReg // by file descriptor
	closed atomic.Bool
	done   chan struct{}
}

// liveReg is one connection in the poller.
type liveReg struct {
	p    *livePoller
	fd   int
	fn   func([]byte) error
	end  chan error // the reason reading stopped; buffered
	mu   sync.Mutex // held while the loop reads fd, and to detach
	gone bool
}

// newLivePoller starts a poller, or returns nil when epoll is unavailable
// (readStream is then used).
func newLivePoller() *livePoller {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	p := &livePoller{epfd: epfd, buf: make([]byte, 64<<10), regs: make(map[int]*liveReg), done: make(chan struct{})}
	go p.loop()
	return p
}

// errDetached ends a read whose connection is being closed by the tool.
var errDetached = errors.New("connection closed by the tool")

// read hands nc's data to fn from the poller's goroutine until nc fails,
// fn returns an error, or detach; *reg holds the registration meanwhile
// (for detach, from other goroutines). fn's chunk is valid only during the
// call. It returns errNoPoll when nc has no file descriptor.
func (p *livePoller) read(nc net.Conn, fn func([]byte) error, reg *atomic.Pointer[liveReg]) error {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return errNoPoll
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	r := &liveReg{p: p, fd: -1, fn: fn, end: make(chan error, 1)}
	reg.Store(r)
	var addErr error
	// Registered inside Control: the descriptor cannot be closed (and
	// reused) meanwhile, and a detach that came first is seen.
	cerr := rc.Control(func(fd uintptr) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.gone {
			return
		}
		r.fd = int(fd)
		p.mu.Lock()
		p.regs[r.fd] = r
		p.mu.Unlock()
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
		if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, r.fd, &ev); err != nil {
			addErr = err
			r.stopLocked(nil)
		}
	})
	switch {
	case cerr != nil:
		r.stop(nil)
		return cerr
	case addErr != nil:
		return addErr
	}
	return <-r.end
}

// detach takes the connection out of the poller before it is closed (its
// descriptor may then be reused) and ends its read with errDetached.
func (r *liveReg) detach() { r.stop(errDetached) }

// stop removes r and ends its read with err (nothing when err is nil).
func (r *liveReg) stop(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopLocked(err)
}

func (r *liveReg) stopLocked(err error) {
	if r.gone {
		return
	}
	r.gone = true
	_ = syscall.EpollCtl(r.p.epfd, syscall.EPOLL_CTL_DEL, r.fd, nil)
	r.p.mu.Lock()
	if r.p.regs[r.fd] == r {
		delete(r.p.regs, r.fd)
	}
	r.p.mu.Unlock()
	if err != nil {
		r.end <- err
	}
}

// livePause is how long the loop sleeps after a wait that did not fill
// its batch, before it waits again, so that connections that become ready
// meanwhile are served by one wait. While the loop sleeps outside
// epoll_wait, a frame that arrives only puts its connection on the ready
// list: it does not wake the loop's thread. On loopback that wake-up runs
// on the sender's core, inside the server's write (about a fifth of the
// server's CPU in a 15k fan-out, and a context switch of the tool per
// frame). A delivery is timed when it is read, so the pause can only add
// to the latency measured (at most livePause plus the timer's slack). It
// does not pause after a read that filled the buffer: that connection
// streams faster than frame by frame (a replay), and pausing would make
// the tool a slow reader, one the server drops when its write buffer
// fills.
const livePause = 500 * time.Microsecond

// loop waits for ready connections and reads each once (level-triggered:
// what is left, or a hang-up, is reported again).
func (p *livePoller) loop() {
	defer close(p.done)
	var events [256]syscall.EpollEvent
	pause := syscall.NsecToTimespec(int64(livePause))
	full := true
	for !p.closed.Load() {
		if !full {
			_ = syscall.Nanosleep(&pause, nil)
		}
		n, err := syscall.EpollWait(p.epfd, events[:], 100)
		full = n == len(events)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			p.mu.Lock()
			r := p.regs[int(ev.Fd)]
			p.mu.Unlock()
			if r != nil && p.service(r) {
				full = true
			}
		}
	}
}

// service reads r's connection once and hands the bytes to its fn. It
// reports whether the read filled the loop's buffer.
func (p *livePoller) service(r *liveReg) (filled bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone {
		return false
	}
	n, err := syscall.Read(r.fd, p.buf)
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
	case err != nil:
		r.stopLocked(err)
	case n == 0:
		r.stopLocked(io.EOF)
	default:
		if ferr := r.fn(p.buf[:n]); ferr != nil {
			r.stopLocked(ferr)
		}
	}
	return n == len(p.buf)
}

// close stops the loop (connections still registered are the caller's).
func (p *livePoller) close() {
	if p == nil || p.closed.Swap(true) {
		return
	}
	<-p.done
	syscall.Close(p.epfd)
}
