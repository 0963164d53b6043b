package httpx

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
)

// detachKey is the context key of a request's *detach.
type detachKey struct{}

// detach holds the end-of-request work of middleware for a handler that
// keeps serving after its ServeHTTP returned (a hijacked stream).
type detach struct {
	taken atomic.Bool // Detach was called
	mu    sync.Mutex  // guards the fields below
	ended bool        // the detached handler is done
	fns   []func()    // cleanups waiting for the end, in registration order
}

// Detachable prepares r for a handler that may outlive its ServeHTTP call:
// middleware passes the returned request on, and hands its end-of-request
// work (releasing a connection slot, say) to after once next returns:
// after runs it at once, unless the handler called Detach, and then when
// the handler says it is done.
func Detachable(r *http.Request) (_ *http.Request, after func(cleanup func())) {
	d, _ := r.Context().Value(detachKey{}).(*detach)
	if d == nil {
		d = &detach{}
		r = r.WithContext(context.WithValue(r.Context(), detachKey{}, d))
	}
	return r, d.after
}

// Detach is called by a handler that keeps serving r after returning (it
// hijacked the connection): the end-of-request work of the middleware
// around it waits until the handler calls end, once it is really done.
// end is idempotent; without Detachable middleware it does nothing.
func Detach(r *http.Request) (end func()) {
	d, _ := r.Context().Value(detachKey{}).(*detach)
	if d == nil {
		return func() {}
	}
	d.taken.Store(true)
	return d.end
}

func (d *detach) after(cleanup func()) {
	if !d.taken.Load() {
		cleanup()
		return
	}
	d.mu.Lock()
	if d.ended {
		d.mu.Unlock()
		cleanup()
		return
	}
	d.fns = append(d.fns, cleanup)
	d.mu.Unlock()
}

// end runs the waiting cleanups in the order they would have run without
// Detach (innermost middleware's first).
func (d *detach) end() {
	d.mu.Lock()
	d.ended = true
	fns := d.fns
	d.fns = nil
	d.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}
