package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
)

// recorder notes the writes that reach the stores, in order, each a
// "moment" at which its items become durable, and holds them at a gate
// while the test lets requests pile up.
type recorder struct {
	mu      sync.Mutex
	gate    chan struct{} // writes wait for it to close; nil: no wait
	moments []string      // per write: "append", "appendWith" or "put", then the items
	fail    error         // when set, writes fail
	failOn  string        // only writes of this kind fail; "": all
}

func (r *recorder) note(kind string, entries []broker.Entry, recs []broker.Record) error {
	items := []string{kind}
	for _, e := range entries {
		items = append(items, "e:"+e.Type)
	}
	for _, rec := range recs {
		items = append(items, "r:"+rec.Key)
	}
	r.mu.Lock()
	r.moments = append(r.moments, strings.Join(items, " "))
	gate, fail := r.gate, r.fail
	if r.failOn != "" && r.failOn != kind {
		fail = nil
	}
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return fail
}

func (r *recorder) hold() {
	r.mu.Lock()
	r.gate = make(chan struct{})
	r.mu.Unlock()
}

func (r *recorder) release() {
	r.mu.Lock()
	close(r.gate)
	r.gate = nil
	r.mu.Unlock()
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.moments...)
}

// recLog is a MemLog (a StateLog) whose writes go through a recorder.
type recLog struct {
	*brokertest.MemLog
	rec *recorder
}

func (l *recLog) Append(ctx context.Context, entries []broker.Entry) ([]*broker.Event, error) {
	if err := l.rec.note("append", entries, nil); err != nil {
		return nil, err
	}
	return l.MemLog.Append(ctx, entries)
}

func (l *recLog) AppendWith(ctx context.Context, entries []broker.Entry, recs []broker.Record) ([]*broker.Event, error) {
	if err := l.rec.note("appendWith", entries, recs); err != nil {
		return nil, err
	}
	return l.MemLog.AppendWith(ctx, entries, recs)
}

// recState is a State of its own whose Puts go through a recorder.
type recState struct {
	broker.State
	rec *recorder
}

func (s *recState) Put(ctx context.Context, recs []broker.Record) error {
	if err := s.rec.note("put", nil, recs); err != nil {
		return err
	}
	return s.State.Put(ctx, recs)
}

// stateSetup is a broker on a recorded log, with the log as its State
// (same) or a second MemLog as a State of its own.
type stateSetup struct {
	b     *broker.Broker
	rec   *recorder
	store *brokertest.MemStore // the log's data
	state broker.State         // where records live
}

func newStateSetup(t *testing.T, same bool, cfg broker.Config) *stateSetup {
	t.Helper()
	s := &stateSetup{rec: &recorder{}, store: brokertest.NewMemStore()}
	mem := s.store.Open()
	l := &recLog{MemLog: mem, rec: s.rec}
	s.state = l
	if !same {
		other := brokertest.NewMemLog()
		s.state = other
		cfg.State = &recState{State: other, rec: s.rec}
	}
	s.b = broker.New(l, cfg)
	t.Cleanup(func() { s.b.Close(); mem.Close() })
	return s
}

// publishOrError publishes m and reports an error with t.Error: it may
// run in a goroutine of its own.
func publishOrError(t *testing.T, b *broker.Broker, m broker.Message) {
	if _, err := b.Publish(context.Background(), m); err != nil {
		t.Errorf("publish %s: %v", m.Type, err)
	}
}

var stateModes = []struct {
	name string
	same bool
}{
	{"log is the state", true},
	{"state of its own", false},
}

func TestPutStateDurableBeforeReturn(t *testing.T) {
	for _, mode := range stateModes {
		t.Run(mode.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newStateSetup(t, mode.same, broker.Config{})
				ctx := context.Background()
				s.rec.hold()
				done := make(chan error, 1)
				go func() { done <- s.b.PutState(ctx, broker.Record{Key: "k", Value: []byte("v")}) }()
				synctest.Wait()
				select {
				case err := <-done:
					t.Fatalf("PutState returned (%v) before the commit", err)
				default:
				}
				if _, err := s.b.GetState(ctx, "k"); !errors.Is(err, broker.ErrNotFound) {
					t.Fatalf("GetState during the commit: %v, want ErrNotFound", err)
				}
				s.rec.release()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				r, err := s.b.GetState(ctx, "k")
				if err != nil || string(r.Value) != "v" {
					t.Fatalf("GetState = %q, %v", r.Value, err)
				}
				want := "appendWith r:k" // a batch of records only is committed too
				if !mode.same {
					want = "put r:k"
				}
				if got := s.rec.snapshot(); len(got) != 1 || got[0] != want {
					t.Fatalf("writes %q, want [%s]", got, want)
				}
			})
		})
	}
}

// TestPutStateSurvivesReopen checks that PutState wrote to the store
// itself: a log reopened on the same MemStore has the record.
func TestPutStateSurvivesReopen(t *testing.T) {
	store := brokertest.NewMemStore()
	l := store.Open()
	b := broker.New(l, broker.Config{})
	ctx := context.Background()
	if err := b.PutState(ctx, broker.Record{Key: "sio/session/1", Value: []byte("s")}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	l.Close()
	l = store.Open()
	defer l.Close()
	b = broker.New(l, broker.Config{})
	defer b.Close()
	if r, err := b.GetState(ctx, "sio/session/1"); err != nil || string(r.Value) != "s" {
		t.Fatalf("after reopen: %q, %v", r.Value, err)
	}
}

// TestStateAndEventsOneBatch queues publishes and records while a commit
// is in flight: they share the next commit, one AppendWith, when the log
// is the State; a batch without records uses Append.
func TestStateAndEventsOneBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStateSetup(t, true, broker.Config{})
		ctx := context.Background()
		s.rec.hold()
		var wg sync.WaitGroup
		wg.Go(func() { publishOrError(t, s.b, msg("r", "first", 0)) })
		synctest.Wait() // "first" is being committed
		wg.Go(func() { publishOrError(t, s.b, msg("r", "second", 0)) })
		synctest.Wait()
		wg.Go(func() {
			if err := s.b.PutState(ctx, broker.Record{Key: "pos/r", Value: []byte("2")}); err != nil {
				t.Error(err)
			}
		})
		synctest.Wait()
		s.rec.release()
		wg.Wait()
		want := []string{"append e:first", "appendWith e:second r:pos/r"}
		if got := s.rec.snapshot(); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("writes %q, want %q", got, want)
		}
		if st := s.b.Stats(); st.Published != 2 || st.Commits != 2 {
			t.Errorf("Stats %+v: want 2 published in 2 commits", st)
		}
	})
}

// TestStateOrdering enqueues records and events from two goroutines,
// each in its own interleaved order, while a commit is held, and checks
// from the writes that reached the stores that each goroutine's requests
// became durable in the order it queued them.
func TestStateOrdering(t *testing.T) {
	for _, mode := range stateModes {
		t.Run(mode.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newStateSetup(t, mode.same, broker.Config{MaxBatch: 16})
				ctx := context.Background()
				s.rec.hold()
				var wg sync.WaitGroup
				wg.Go(func() { publishOrError(t, s.b, msg("r", "first", 0)) })
				synctest.Wait()
				patterns := []string{"rreerrerreeererr", "eerrreerreerrree"}
				seqs := make([][]string, len(patterns))
				for g, pat := range patterns {
					wg.Go(func() {
						var pend []*broker.Pending
						for i, c := range pat {
							name := fmt.Sprintf("g%d-%d", g, i)
							var p *broker.Pending
							var err error
							if c == 'r' {
								seqs[g] = append(seqs[g], "r:"+name)
								p, err = s.b.EnqueueState(ctx, broker.Record{Key: name, Value: []byte(name)})
							} else {
								seqs[g] = append(seqs[g], "e:"+name)
								p, err = s.b.Enqueue(ctx, msg("r", name, i))
							}
							if err != nil {
								t.Error(err)
								return
							}
							pend = append(pend, p)
						}
						for _, p := range pend {
							if _, err := p.Wait(ctx); err != nil {
								t.Error(err)
							}
						}
					})
				}
				synctest.Wait()
				s.rec.release()
				wg.Wait()
				moments := s.rec.snapshot()
				at := map[string]int{}
				shared := false
				for i, m := range moments {
					items := strings.Fields(m)
					hasE, hasR := false, false
					for _, it := range items[1:] {
						at[it] = i
						hasE = hasE || it[0] == 'e'
						hasR = hasR || it[0] == 'r'
					}
					shared = shared || hasE && hasR
				}
				for g, seq := range seqs {
					for i := 1; i < len(seq); i++ {
						if at[seq[i]] < at[seq[i-1]] {
							t.Fatalf("goroutine %d queued %s before %s, but it was durable after it; writes:\n%s",
								g, seq[i-1], seq[i], strings.Join(moments, "\n"))
						}
					}
				}
				if mode.same && !shared {
					t.Errorf("no commit shared events and records:\n%s", strings.Join(moments, "\n"))
				}
				for _, seq := range seqs {
					for _, it := range seq {
						if it[0] != 'r' {
							continue
						}
						if _, err := s.state.Get(ctx, it[2:]); err != nil {
							t.Fatalf("record %s: %v", it[2:], err)
						}
					}
				}
			})
		})
	}
}

// TestStateFailedCommit checks that a failed commit fails every request
// of its batch, records and events alike.
func TestStateFailedCommit(t *testing.T) {
	for _, mode := range stateModes {
		t.Run(mode.name, func(t *testing.T) {
			s := newStateSetup(t, mode.same, broker.Config{})
			s.rec.fail = errors.New("disk on fire")
			ctx := context.Background()
			if err := s.b.PutState(ctx, broker.Record{Key: "k", Value: []byte("v")}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
				t.Fatalf("PutState = %v, want the commit's error", err)
			}
			if _, err := s.state.Get(ctx, "k"); !errors.Is(err, broker.ErrNotFound) {
				t.Fatalf("the failed record is there: %v", err)
			}
		})
	}
}

// TestStateRecordsDurableAppendFailed has a State of its own take the
// records of a batch whose Append then fails: the records are durable, so
// their request succeeds; the events' request fails.
func TestStateRecordsDurableAppendFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStateSetup(t, false, broker.Config{})
		ctx := context.Background()
		s.rec.hold()
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = s.b.Publish(ctx, msg("r", "first", 0)) })
		synctest.Wait()
		pr, err := s.b.EnqueueState(ctx, broker.Record{Key: "k", Value: []byte("v")})
		if err != nil {
			t.Fatal(err)
		}
		pe, err := s.b.Enqueue(ctx, msg("r", "second", 0))
		if err != nil {
			t.Fatal(err)
		}
		s.rec.mu.Lock()
		s.rec.fail, s.rec.failOn = errors.New("disk on fire"), "append"
		s.rec.mu.Unlock()
		s.rec.release()
		wg.Wait()
		if _, err := pr.Wait(ctx); err != nil {
			t.Errorf("records: %v, want success (they were put)", err)
		}
		if _, err := pe.Wait(ctx); err == nil {
			t.Error("event: no error, but its Append failed")
		}
		if got := s.rec.snapshot(); strings.Join(got, "|") != "append e:first|put r:k|append e:second" {
			t.Errorf("writes %q", got)
		}
		if _, err := s.state.Get(ctx, "k"); err != nil {
			t.Errorf("record: %v", err)
		}
	})
}

func TestStateNotInOffsets(t *testing.T) {
	b, l := newBroker(t, broker.Config{})
	ctx := context.Background()
	sub := mustSubscribe(t, b, []string{"r"}, broker.Position{})
	for i := range 50 {
		if err := b.PutState(ctx, broker.Record{Key: fmt.Sprintf("sio/session/%d", i), Value: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	ev := mustPublish(t, b, msg("r", "t", 1))
	if ev.Offset != 1 || l.Head() != 1 || b.Head().Offset != 1 {
		t.Fatalf("first event at offset %d (head %d) after 50 records, want 1", ev.Offset, l.Head())
	}
	if evs := nextN(t, sub, 1); evs[0].Offset != 1 {
		t.Fatalf("subscriber got %+v", evs[0])
	}
	if evs, _ := sub.TryNext(ctx, 0); len(evs) != 0 {
		t.Fatalf("subscriber got more: %+v", evs)
	}
	if st := b.Stats(); st.Published != 1 {
		t.Errorf("Stats.Published = %d, want 1", st.Published)
	}
	rooms, _ := b.Rooms(ctx)
	if len(rooms) != 1 {
		t.Errorf("Rooms = %+v, want only r", rooms)
	}
	n := 0
	if err := b.ScanState(ctx, "sio/session/", func(broker.Record) bool { n++; return true }); err != nil || n != 50 {
		t.Errorf("ScanState found %d records, %v", n, err)
	}
}

func TestStateErrors(t *testing.T) {
	ctx := context.Background()
	closed, _ := newBroker(t, broker.Config{})
	closed.Close()
	// A Log that is not a State: the broker has none.
	plain := broker.New(struct{ broker.Log }{brokertest.NewMemLog()}, broker.Config{})
	defer plain.Close()
	open, _ := newBroker(t, broker.Config{})
	good := broker.Record{Key: "k", Value: []byte("v")}
	tests := []struct {
		name string
		b    *broker.Broker
		key  string
		want error
	}{
		{"closed broker", closed, "k", broker.ErrClosed},
		{"no state", plain, "k", broker.ErrNoState},
		{"bad key", open, "a key", broker.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := good
			rec.Key = tc.key
			_, errEnqueue := tc.b.EnqueueState(ctx, rec)
			_, errGet := tc.b.GetState(ctx, tc.key)
			for name, err := range map[string]error{
				"PutState":     tc.b.PutState(ctx, rec),
				"EnqueueState": errEnqueue,
				"GetState":     errGet,
				"ScanState":    tc.b.ScanState(ctx, tc.key, func(broker.Record) bool { return true }),
			} {
				if !errors.Is(err, tc.want) {
					t.Errorf("%s: error %v, want %v", name, err, tc.want)
				}
			}
		})
	}
	t.Run("too large", func(t *testing.T) {
		err := open.PutState(ctx, broker.Record{Key: "k", Value: make([]byte, broker.MaxStateValueLen+1)})
		if !errors.Is(err, broker.ErrInvalid) || !errors.Is(err, broker.ErrTooLarge) {
			t.Errorf("error %v, want ErrInvalid and ErrTooLarge", err)
		}
	})
	t.Run("publish without state", func(t *testing.T) {
		mustPublish(t, plain, msg("r", "t", 1))
	})
}

// failingExpire is a State whose Expire fails.
type failingExpire struct{ broker.State }

func (failingExpire) Expire(context.Context, time.Time) (int, error) {
	return 0, errors.New("expiry broke")
}

// TestStateExpiry checks that the broker removes expired records every
// RetentionInterval although no retention is configured, and that an
// Expire error is logged and does not stop it.
func TestStateExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&logs, nil))
		mem := brokertest.NewMemLog()
		defer mem.Close()
		b := broker.New(mem, broker.Config{RetentionInterval: time.Minute, Logger: logger})
		defer b.Close()
		ctx := context.Background()
		exp := time.Now().Add(90 * time.Second)
		if err := b.PutState(ctx, broker.Record{Key: "k", Value: []byte("v"), Expires: exp}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		if _, err := b.GetState(ctx, "k"); err != nil {
			t.Fatalf("record gone before it expired: %v", err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n, err := mem.Expire(ctx, time.Now()); n != 0 || err != nil {
			t.Fatalf("Expire after the broker's tick removed %d (%v): the broker did not", n, err)
		}

		bad := broker.New(brokertest.NewMemLog(), broker.Config{
			RetentionInterval: time.Minute, Logger: logger, State: failingExpire{brokertest.NewMemLog()}})
		defer bad.Close()
		time.Sleep(2*time.Minute + time.Second)
		synctest.Wait()
		if n := strings.Count(logs.String(), "expiry broke"); n != 2 {
			t.Errorf("logged the Expire error %d times in two ticks, want 2:\n%s", n, logs.String())
		}
		if err := bad.PutState(ctx, broker.Record{Key: "k", Value: []byte("v")}); err != nil {
			t.Errorf("PutState after failed expiries: %v", err)
		}
	})
}
