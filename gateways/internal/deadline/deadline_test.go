package deadline

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// item is a scheduled value of the tests.
type item struct {
	name string
	e    Entry[*item]
}

func newItem(name string) *item {
	it := &item{name: name}
	it.e.Value = it
	return it
}

// recorder records the callbacks of a Scheduler: which value, when.
type recorder struct {
	mu    sync.Mutex
	start time.Time
	got   []string
	at    map[string][]time.Duration // fire times, since start
}

func newRecorder() *recorder {
	return &recorder{start: time.Now(), at: map[string][]time.Duration{}}
}

func (r *recorder) fire(it *item, at, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, it.name)
	r.at[it.name] = append(r.at[it.name], now.Sub(r.start))
}

func (r *recorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// TestSchedulerFires: entries fire at their deadline (with Tick: at most a
// Tick later, never earlier), in deadline order, once; Reset moves an
// entry, Remove cancels it.
func TestSchedulerFires(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name   string
		tick   time.Duration
		at     map[string]time.Duration // initial deadlines
		moves  func(s *Scheduler[*item], items map[string]*item, start time.Time)
		want   []string
		within time.Duration // how late a deadline may fire
	}{
		{name: "in order", at: map[string]time.Duration{"c": 30 * ms, "a": 10 * ms, "b": 20 * ms}, want: []string{"a", "b", "c"}},
		{name: "reset and remove", at: map[string]time.Duration{"a": 10 * ms, "b": 20 * ms, "c": 30 * ms},
			moves: func(s *Scheduler[*item], items map[string]*item, start time.Time) {
				s.Reset(&items["a"].e, start.Add(40*ms))
				s.Remove(&items["b"].e)
				s.Remove(&items["b"].e) // idempotent
			}, want: []string{"c", "a"}},
		{name: "tick coalesces", tick: 10 * ms, at: map[string]time.Duration{"a": 1 * ms, "b": 2 * ms, "c": 3 * ms, "d": 25 * ms},
			want: []string{"a", "b", "c", "d"}, within: 10 * ms},
		{name: "past deadline fires at once", at: map[string]time.Duration{"a": -time.Second}, want: []string{"a"}, within: time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRecorder()
				s := New(Config{Tick: tc.tick}, func(it *item, at, now time.Time) time.Time {
					if now.Before(at) {
						t.Errorf("%s fired at %v, before its deadline %v", it.name, now.Sub(r.start), at.Sub(r.start))
					}
					if late := now.Sub(at); late > tc.within {
						t.Errorf("%s fired %v late", it.name, late)
					}
					r.fire(it, at, now)
					return time.Time{}
				})
				defer s.Close()
				items := map[string]*item{}
				for name, d := range tc.at {
					items[name] = newItem(name)
					s.Reset(&items[name].e, r.start.Add(d))
				}
				if tc.moves != nil {
					tc.moves(s, items, r.start)
				}
				time.Sleep(time.Second)
				synctest.Wait()
				if got := r.names(); !slices.Equal(got, tc.want) {
					t.Fatalf("fired %v, want %v", got, tc.want)
				}
				if s.Len() != 0 {
					t.Fatalf("%d entries left", s.Len())
				}
			})
		})
	}
}

// TestSchedulerCallbackReschedules: a callback's returned deadline
// schedules the entry again, unless the owner rescheduled or removed it
// while the callback ran.
func TestSchedulerCallbackReschedules(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		owner func(s *Scheduler[*item], e *Entry[*item], start time.Time) // runs inside the first callback
		want  []time.Duration                                             // fire times
	}{
		{name: "every 10ms", want: []time.Duration{10 * ms, 20 * ms, 30 * ms}},
		{name: "owner reset wins", owner: func(s *Scheduler[*item], e *Entry[*item], start time.Time) {
			s.Reset(e, start.Add(25*ms))
		}, want: []time.Duration{10 * ms, 25 * ms, 35 * ms}},
		{name: "owner remove wins", owner: func(s *Scheduler[*item], e *Entry[*item], start time.Time) {
			s.Remove(e)
		}, want: []time.Duration{10 * ms}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRecorder()
				var s *Scheduler[*item]
				n := 0
				s = New(Config{}, func(it *item, at, now time.Time) time.Time {
					r.fire(it, at, now)
					if n++; n == 3 {
						return time.Time{}
					}
					if n == 1 && tc.owner != nil {
						tc.owner(s, &it.e, r.start)
					}
					return now.Add(10 * ms)
				})
				defer s.Close()
				it := newItem("x")
				s.Reset(&it.e, r.start.Add(10*ms))
				time.Sleep(time.Second)
				synctest.Wait()
				r.mu.Lock()
				defer r.mu.Unlock()
				if got := r.at["x"]; !slices.Equal(got, tc.want) {
					t.Fatalf("fired at %v, want %v", got, tc.want)
				}
			})
		})
	}
}

// TestSchedulerFireAll: FireAll makes every entry due at once.
func TestSchedulerFireAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		s := New(Config{Tick: time.Millisecond}, func(it *item, at, now time.Time) time.Time {
			r.fire(it, at, now)
			return time.Time{}
		})
		defer s.Close()
		for i := range 100 {
			s.Reset(&newItem("x").e, r.start.Add(time.Hour+time.Duration(i)*time.Second))
		}
		time.Sleep(time.Second)
		s.FireAll()
		synctest.Wait()
		time.Sleep(time.Millisecond)
		synctest.Wait()
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.got) != 100 {
			t.Fatalf("%d fired, want 100", len(r.got))
		}
		for _, d := range r.at["x"] {
			if d > time.Second+time.Millisecond {
				t.Fatalf("fired at %v", d)
			}
		}
	})
}

// TestSchedulerClose: Close waits for a running callback, and nothing
// fires afterwards.
func TestSchedulerClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		release := make(chan struct{})
		running := make(chan struct{})
		s := New(Config{}, func(it *item, at, now time.Time) time.Time {
			close(running)
			<-release
			r.fire(it, at, now)
			return now.Add(time.Millisecond)
		})
		s.Reset(&newItem("a").e, r.start.Add(time.Millisecond))
		<-running
		closed := make(chan struct{})
		go func() {
			s.Close()
			close(closed)
		}()
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned while a callback ran")
		default:
		}
		close(release)
		<-closed
		s.Close() // idempotent
		s.Reset(&newItem("b").e, time.Now())
		time.Sleep(time.Second)
		synctest.Wait()
		if got := r.names(); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("fired %v after Close", got)
		}
	})
}

// TestSchedulerHeap resets and removes at random and checks the heap
// order and every entry's index after each step.
func TestSchedulerHeap(t *testing.T) {
	s := New(Config{}, func(*item, time.Time, time.Time) time.Time { return time.Time{} })
	defer s.Close()
	far := time.Now().Add(time.Hour) // nothing fires
	items := make([]*item, 200)
	for i := range items {
		items[i] = newItem("")
	}
	in := map[*item]bool{}
	for range 5000 {
		it := items[rand.N(len(items))]
		if rand.N(3) == 0 {
			s.Remove(&it.e)
			delete(in, it)
		} else {
			s.Reset(&it.e, far.Add(time.Duration(rand.N(1000))*time.Millisecond))
			in[it] = true
		}
		s.mu.Lock()
		if len(s.heap) != len(in) {
			t.Fatalf("heap holds %d, want %d", len(s.heap), len(in))
		}
		for i, sl := range s.heap {
			if sl.e.idx != i+1 || sl.at != sl.e.at {
				t.Fatalf("slot %d: idx %d, at %d/%d", i, sl.e.idx, sl.at, sl.e.at)
			}
			if p := (i - 1) / arity; i > 0 && s.heap[p].at > sl.at {
				t.Fatalf("slot %d earlier than its parent", i)
			}
		}
		s.mu.Unlock()
		for _, it := range items {
			if _, ok := s.Scheduled(&it.e); ok != in[it] {
				t.Fatalf("scheduled %v, want %v", ok, in[it])
			}
		}
	}
}

// TestSweepAllocs: once its scratch has grown, a sweep allocates nothing,
// however many entries it fires and reschedules.
func TestSweepAllocs(t *testing.T) {
	s := New(Config{}, func(_ *item, at, now time.Time) time.Time { return now.Add(time.Hour) })
	s.Close() // the test sweeps by hand
	items := make([]*item, 1000)
	for i := range items {
		items[i] = newItem("")
	}
	now := time.Now()
	allocs := testing.AllocsPerRun(10, func() {
		for _, it := range items {
			s.Reset(&it.e, now)
		}
		now = now.Add(time.Second)
		s.sweep(now, int64(now.Sub(s.base)))
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per sweep of %d entries", allocs, len(items))
	}
}

// BenchmarkReset reschedules one of 10,000 entries to a later deadline
// (as a pong does).
func BenchmarkReset(b *testing.B) {
	s := New(Config{}, func(*item, time.Time, time.Time) time.Time { return time.Time{} })
	defer s.Close()
	items := make([]*item, 10_000)
	now := time.Now().Add(time.Hour)
	for i := range items {
		items[i] = newItem("")
		s.Reset(&items[i].e, now.Add(time.Duration(i)))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now = now.Add(time.Microsecond)
		s.Reset(&items[i].e, now)
		i = (i + 1) % len(items)
	}
}
