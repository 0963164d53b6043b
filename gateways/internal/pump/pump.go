package pump

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Pool is a ready queue served by a fixed set of worker goroutines. It is
// safe for concurrent use. The zero value is not usable: use New; stop it
// with Close.
type Pool struct {
	mu     sync.Mutex // guards the ring and closed
	cond   sync.Cond  // signalled when the ring gets a task or the pool closes
	ring   []*Task    // ready tasks, FIFO; a task is in it at most once
	head   int        // index of the oldest task in ring
	n      int        // tasks in ring
	closed bool

	workers int

	wg sync.WaitGroup
}

// New starts a Pool with the given number of workers (GOMAXPROCS when
// workers <= 0).
func New(workers int) *Pool {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	p := &Pool{ring: make([]*Task, 64), workers: workers}
	p.cond.L = &p.mu
	for range workers {
		p.wg.Go(p.work)
	}
	return p
}

// Close stops the workers once the tasks already ready have run, and
// waits for them. Tasks made ready afterwards do not run. A ready task
// that a worker found held by another worker's run runs after it; one
// held by a Do runs only if a worker is still there when the Do ends.
// Safe to call more than once; it must not be called from a task.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
}

// Task is a unit of work of a Pool: run runs on some worker each time the
// task was made ready, never on two goroutines at once, and never while
// Do is running for it.
type Task struct {
	p      *Pool
	run    func()
	queued atomic.Bool // in the ring (not yet taken by a worker)
	missed atomic.Bool // a worker found exec held: the holder must re-queue
	exec   sync.Mutex  // held while run or a Do function runs
}

// NewTask returns a task of p that calls run. It is not ready until Ready
// is called.
func (p *Pool) NewTask(run func()) *Task { return &Task{p: p, run: run} }

// Ready makes the task run once more, on a worker, after this call: a
// wake-up is never lost, and the wake-ups that arrive before the run starts
// are served by that one run. It never blocks on the task and may be
// called from any goroutine, including the task's own run function (which
// then runs again later, after the tasks already waiting: a busy task
// cannot starve the others).
func (t *Task) Ready() {
	if t.queued.CompareAndSwap(false, true) {
		t.p.push(t, false)
	}
}

// Do runs f on the caller's goroutine with the task's exclusive hold: no
// run of the task is in progress meanwhile, and runs that were due wait
// (without holding a worker) until f returns. Use it for work on the
// task's state that may block. f must not call Do on the same task.
func (t *Task) Do(f func()) {
	t.exec.Lock()
	f()
	t.release()
}

// release gives the hold back and re-queues the task when a worker found
// it held meanwhile.
func (t *Task) release() {
	t.exec.Unlock()
	if t.missed.Swap(false) && t.queued.CompareAndSwap(false, true) {
		// The wake-up was taken before: it is served even when Close
		// came meanwhile (a worker that let go runs it before it
		// returns).
		t.p.push(t, true)
	}
}

// runOnce runs the task on the calling worker, unless it is held (by a Do
// or, briefly, by a worker that took an earlier copy of it): then the
// holder re-queues it when it lets go.
func (t *Task) runOnce() {
	if !t.exec.TryLock() {
		t.missed.Store(true)
		// The holder may have let go before seeing missed: try once more.
		if !t.exec.TryLock() {
			return
		}
	}
	// Every wake-up that set missed so far is served by the run below.
	t.missed.Store(false)
	t.run()
	t.release()
}

// push adds t to the ring; once the pool is closed, only when taken says
// its wake-up came before.
func (p *Pool) push(t *Task, taken bool) {
	p.mu.Lock()
	if p.closed && !taken {
		p.mu.Unlock()
		return
	}
	if p.n == len(p.ring) {
		p.grow()
	}
	p.ring[(p.head+p.n)%len(p.ring)] = t
	p.n++
	p.mu.Unlock()
	p.cond.Signal()
}

// grow doubles the ring. Called with mu held.
func (p *Pool) grow() {
	ring := make([]*Task, 2*len(p.ring))
	k := copy(ring, p.ring[p.head:])
	copy(ring[k:], p.ring[:p.head])
	p.ring, p.head = ring, 0
}

// batchMax is how many ready tasks a worker takes at once (one lock for
// all of them), at most.
const batchMax = 32

// work is a worker goroutine: it runs ready tasks until the pool closes
// and its ring is empty. It takes several at a time, leaving the other
// workers their share.
func (p *Pool) work() {
	var batch [batchMax]*Task
	p.mu.Lock()
	for {
		for p.n == 0 && !p.closed {
			p.cond.Wait()
		}
		if p.n == 0 {
			p.mu.Unlock()
			return
		}
		k := min(batchMax, max(1, p.n/p.workers))
		for i := range k {
			batch[i] = p.ring[p.head]
			p.ring[p.head] = nil
			p.head = (p.head + 1) % len(p.ring)
		}
		p.n -= k
		p.mu.Unlock()
		for i, t := range batch[:k] {
			t.queued.Store(false)
			t.runOnce()
			batch[i] = nil
		}
		p.mu.Lock()
	}
}
