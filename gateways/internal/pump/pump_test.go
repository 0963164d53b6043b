package pump

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// TestNoLostWakeup makes tasks ready from many goroutines while they run
// and while Do holds them, and checks that every Ready is followed by a run
// that started after it, that no task ever runs twice at once, and that Do
// excludes runs.
func TestNoLostWakeup(t *testing.T) {
	for _, tc := range []struct {
		name    string
		workers int
		tasks   int
		wakers  int
		withDo  bool
	}{
		{name: "one worker", workers: 1, tasks: 8, wakers: 4},
		{name: "several workers", workers: 4, tasks: 8, wakers: 8},
		{name: "one task, many workers", workers: 4, tasks: 1, wakers: 8},
		{name: "with Do", workers: 3, tasks: 4, wakers: 6, withDo: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(tc.workers)
			type state struct {
				task    *Task
				inside  atomic.Int32
				wanted  atomic.Int64 // the latest wake-up number
				served  atomic.Int64 // the latest wake-up number a run started after
				overlap atomic.Bool
			}
			states := make([]*state, tc.tasks)
			for i := range states {
				s := &state{}
				s.task = p.NewTask(func() {
					if s.inside.Add(1) != 1 {
						s.overlap.Store(true)
					}
					s.served.Store(s.wanted.Load())
					s.inside.Add(-1)
				})
				states[i] = s
			}
			const rounds = 2000
			var wg sync.WaitGroup
			for w := range tc.wakers {
				wg.Go(func() {
					for r := range rounds {
						s := states[(w+r)%len(states)]
						if tc.withDo && r%7 == 0 {
							s.task.Do(func() {
								if s.inside.Add(1) != 1 {
									s.overlap.Store(true)
								}
								s.inside.Add(-1)
							})
						}
						s.wanted.Add(1)
						s.task.Ready()
					}
				})
			}
			wg.Wait()
			// A final round that every task must serve.
			for _, s := range states {
				s.wanted.Add(1)
				s.task.Ready()
			}
			p.Close()
			for i, s := range states {
				if s.overlap.Load() {
					t.Errorf("task %d ran on two goroutines at once", i)
				}
				if got, want := s.served.Load(), s.wanted.Load(); got != want {
					t.Errorf("task %d: last run served wake-up %d, want %d", i, got, want)
				}
			}
		})
	}
}

// TestReadyFromRun checks that a task that makes itself ready runs again,
// after the tasks already waiting.
func TestReadyFromRun(t *testing.T) {
	p := New(1)
	var order []string
	var mu sync.Mutex
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	block := make(chan struct{})
	gate := p.NewTask(func() { <-block })
	gate.Ready() // holds the only worker until the others are queued
	n := 0
	done := make(chan struct{})
	var a *Task
	a = p.NewTask(func() {
		note("a")
		if n++; n < 3 {
			a.Ready()
		} else {
			close(done)
		}
	})
	b := p.NewTask(func() { note("b") })
	a.Ready()
	b.Ready()
	close(block)
	<-done
	p.Close()
	if got, want := len(order), 4; got != want {
		t.Fatalf("ran %v, want 3 runs of a and one of b", order)
	}
	if order[0] != "a" || order[1] != "b" {
		t.Errorf("order %v: b should run right after a's first run", order)
	}
}

// TestCloseDropsLaterWork checks that Close runs what is ready and that
// Ready afterwards does nothing.
func TestCloseDropsLaterWork(t *testing.T) {
	p := New(2)
	var runs atomic.Int32
	task := p.NewTask(func() { runs.Add(1) })
	task.Ready()
	p.Close()
	if runs.Load() != 1 {
		t.Fatalf("runs = %d before Close returned, want 1", runs.Load())
	}
	task.Ready()
	p.Close() // idempotent
	if runs.Load() != 1 {
		t.Fatalf("runs = %d after Close, want 1", runs.Load())
	}
}

// TestCloseServesWakeupHeldByARun: a task made ready while a worker runs
// it is taken by another worker, found held and left to the first; Close
// comes before that run ends. The wake-up was taken before Close, so the
// task runs again before Close returns.
func TestCloseServesWakeupHeldByARun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := New(2)
		gate := make(chan struct{})
		var runs atomic.Int32
		task := p.NewTask(func() {
			if runs.Add(1) == 1 {
				<-gate // the first run holds the task
			}
		})
		task.Ready()
		synctest.Wait() // a worker is in the first run
		task.Ready()    // the other worker takes it and finds it held
		synctest.Wait()
		closed := make(chan struct{})
		go func() { p.Close(); close(closed) }()
		synctest.Wait() // Close waits for the worker in the first run
		close(gate)
		<-closed
		if n := runs.Load(); n != 2 {
			t.Fatalf("%d runs, want 2: the wake-up taken before Close was lost", n)
		}
	})
}
