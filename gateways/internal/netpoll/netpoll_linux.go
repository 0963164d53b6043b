package netpoll

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
)

// Poller is an epoll instance and the goroutine that waits on it. It is
// safe for concurrent use. Close it when done.
type Poller struct {
	epfd int
	wake [2]int // a pipe: Close writes to it to end the wait

	// life guards closed and the file descriptors: they are closed only
	// once no Arm or Remove uses them (read-locked by those).
	life   sync.RWMutex
	closed bool

	mu   sync.Mutex // guards regs and gen
	regs []*Reg     // by file descriptor
	gen  uint32

	wg sync.WaitGroup
}

// Reg is the registration of one socket. Remove it before the connection
// is closed (the file descriptor may be reused at once).
type Reg struct {
	p     *Poller
	fd    int32  // a file descriptor is an int32 to epoll (and then fd and gen share a word)
	gen   uint32 // tells this registration from an earlier one of the same fd
	ready Readier

	mu      sync.Mutex // orders Arm and Remove
	removed bool
}

// events is what a registration waits for: data (or a peer that shut
// down), once.
const events = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// New returns a Poller and starts its goroutine.
func New() (*Poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netpoll: epoll_create1: %w", err)
	}
	p := &Poller{epfd: epfd}
	if err := syscall.Pipe2(p.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("netpoll: pipe2: %w", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: -1}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFDs()
		return nil, fmt.Errorf("netpoll: watch the wake pipe: %w", err)
	}
	p.wg.Go(p.run)
	return p, nil
}

// Close stops the poller's goroutine and waits for it; ready functions
// are not called afterwards. Registrations become inert. Idempotent.
func (p *Poller) Close() {
	p.life.Lock()
	if p.closed {
		p.life.Unlock()
		return
	}
	// Arm and Remove calls under way have finished; later ones see closed
	// and leave the file descriptors alone.
	p.closed = true
	p.life.Unlock()
	syscall.Write(p.wake[1], []byte{0})
	p.wg.Wait()
	p.closeFDs()
}

func (p *Poller) closeFDs() {
	syscall.Close(p.wake[0])
	syscall.Close(p.wake[1])
	syscall.Close(p.epfd)
}

// Add registers the socket of rc, armed: ready.Ready is called once, on
// the poller's goroutine, when it has data to read, was shut down by its
// peer or failed.
func (p *Poller) Add(rc syscall.RawConn, ready Readier) (*Reg, error) {
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return nil, fmt.Errorf("netpoll: %w", err)
	}
	r := &Reg{p: p, fd: int32(fd), ready: ready}
	p.life.RLock()
	defer p.life.RUnlock()
	if p.closed {
		return nil, errors.New("netpoll: poller closed")
	}
	p.mu.Lock()
	p.gen++
	r.gen = p.gen
	for len(p.regs) <= fd {
		p.regs = append(p.regs, nil)
	}
	p.regs[fd] = r
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: events, Fd: r.fd, Pad: int32(r.gen)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.forget(r)
		return nil, fmt.Errorf("netpoll: epoll_ctl add: %w", err)
	}
	return r, nil
}

// Arm waits for the next readiness (after the reader found the socket
// empty). It does nothing once the registration is removed.
func (r *Reg) Arm() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.p.life.RLock()
	defer r.p.life.RUnlock()
	if r.removed || r.p.closed {
		return nil
	}
	ev := syscall.EpollEvent{Events: events, Fd: r.fd, Pad: int32(r.gen)}
	if err := syscall.EpollCtl(r.p.epfd, syscall.EPOLL_CTL_MOD, int(r.fd), &ev); err != nil {
		return fmt.Errorf("netpoll: epoll_ctl mod: %w", err)
	}
	return nil
}

// Remove ends the registration; ready is not called for it afterwards
// (except, at most, by a call already under way). Call it before the
// connection is closed. Idempotent.
func (r *Reg) Remove() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.removed {
		return
	}
	r.removed = true
	r.p.life.RLock()
	defer r.p.life.RUnlock()
	if !r.p.closed {
		var ev syscall.EpollEvent
		_ = syscall.EpollCtl(r.p.epfd, syscall.EPOLL_CTL_DEL, int(r.fd), &ev)
	}
	r.p.forget(r)
}

func (p *Poller) forget(r *Reg) {
	p.mu.Lock()
	if int(r.fd) < len(p.regs) && p.regs[r.fd] == r {
		p.regs[r.fd] = nil
	}
	p.mu.Unlock()
}

// run waits for readiness and calls the ready functions, until Close.
func (p *Poller) run() {
	evs := make([]syscall.EpollEvent, 256)
	var due []*Reg
	for {
		n, err := syscall.EpollWait(p.epfd, evs, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return // EBADF and such: nothing more will come
		}
		p.mu.Lock()
		for _, ev := range evs[:n] {
			fd := int(ev.Fd)
			if fd < 0 {
				p.mu.Unlock()
				return // the wake pipe: Close
			}
			if fd >= len(p.regs) {
				continue
			}
			if r := p.regs[fd]; r != nil && r.gen == uint32(ev.Pad) {
				due = append(due, r)
			}
		}
		p.mu.Unlock()
		for i, r := range due {
			r.ready.Ready()
			due[i] = nil
		}
		due = due[:0]
	}
}
