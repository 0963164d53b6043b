package engineio

import (
	"net"
	"sync"
)

// Listener is a net.Listener that also returns the connections handed
// back to it with Requeue: a keep-alive connection that the engine took
// from net/http while it was idle between requests (see Config.Requeue)
// comes back to the HTTP server when its next request arrives, and is
// served as a newly accepted one. One goroutine accepts from the wrapped
// listener; Close (which http.Server calls at shutdown) ends it.
type Listener struct {
	net.Listener
	in   chan acceptResult // from the accepting goroutine
	back chan net.Conn     // requeued connections
	done chan struct{}     // closed by Close
	once sync.Once
	wg   sync.WaitGroup
}

type acceptResult struct {
	c   net.Conn
	err error
}

// requeueBacklog is how many requeued connections wait for Accept before
// Requeue hands the next ones over from goroutines of their own.
const requeueBacklog = 1024

// NewListener returns a Listener accepting from l; serve it with
// http.Server.Serve and give its Requeue to Config.Requeue.
func NewListener(l net.Listener) *Listener {
	rl := &Listener{
		Listener: l,
		in:       make(chan acceptResult),
		back:     make(chan net.Conn, requeueBacklog),
		done:     make(chan struct{}),
	}
	rl.wg.Go(rl.accept)
	return rl
}

// accept is the goroutine that accepts from the wrapped listener until
// it fails for good (it is closed).
func (l *Listener) accept() {
	for {
		c, err := l.Listener.Accept()
		select {
		case l.in <- acceptResult{c, err}:
		case <-l.done:
			if c != nil {
				c.Close()
			}
			return
		}
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			select {
			case <-l.done:
				return
			default:
			}
			// http.Server retries temporary errors (too many open files)
			// after a pause; keep accepting.
		}
	}
}

// Accept implements net.Listener: a requeued connection or a new one.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.back:
		return c, nil
	default:
	}
	select {
	case c := <-l.back:
		return c, nil
	case r := <-l.in:
		return r.c, r.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener; connections requeued afterwards are
// closed.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { close(l.done) })
	return err
}

// Requeue hands c back to the server. It reports false once the listener
// is closed (the caller closes c). It does not block.
func (l *Listener) Requeue(c net.Conn) bool {
	select {
	case <-l.done:
		return false
	default:
	}
	select {
	case l.back <- c:
		return true
	default:
	}
	l.wg.Go(func() {
		select {
		case l.back <- c:
		case <-l.done:
			c.Close()
		}
	})
	return true
}
