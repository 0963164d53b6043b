package brokertest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
)

// ClosableState is a broker.State that its owner closes: a State kept in a
// Log (bolt's Log, MemLog) or a store of its own.
type ClosableState interface {
	broker.State
	Close() error
}

// TestState runs the broker.State conformance suite as subtests of t.
//
// open is shaped like TestLog's: it is called once per subtest, with that
// subtest's t, and must create a fresh, empty store; each call of the
// opener it returns opens that store (after the previous one was closed,
// it reopens the same data). Stores the suite opens are closed by
// t.Cleanup. When the opened store is also a broker.StateLog, the suite
// checks AppendWith as well (records and events in one transaction);
// otherwise those subtests are skipped.
//
// Besides the interface comments, the suite fixes these choices: Expires
// round-trips to the nanosecond (compared with time.Equal); an empty,
// non-nil Value is a record (Get returns a non-nil empty Value); Put of an
// already expired record stores a record that is never returned; a record
// put again takes the new record's expiry, also when that is "never".
func TestState(t *testing.T, open func(t *testing.T) func() ClosableState) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, open func() ClosableState)
	}{
		{"GetPutDelete", testStateGetPutDelete},
		{"CallerOwnsBuffers", testStateOwnership},
		{"BatchLaterRecordWins", testStateBatchOrder},
		{"InvalidWritesNothing", testStateInvalid},
		{"ScanPrefixInKeyOrder", testStateScan},
		{"ScanSnapshot", testStateScanSnapshot},
		{"ExpiredNeverReturned", testStateExpiredHidden},
		{"ExpireRemovesAndCounts", testStateExpire},
		{"PutRenewsExpiry", testStateRenew},
		{"ReopenKeepsRecords", testStateReopen},
		{"Closed", testStateClosed},
		{"AppendWithCommitsBoth", testAppendWith},
		{"AppendWithBadRecordCommitsNothing", testAppendWithInvalid},
		{"AppendWithRecordsOnly", testAppendWithRecordsOnly},
		{"Concurrent", testStateConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

// openState calls open and closes the store when the test ends.
func openState(t *testing.T, open func() ClosableState) ClosableState {
	t.Helper()
	s := open()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// stateLog returns s as a StateLog, or skips the test.
func stateLog(t *testing.T, s broker.State) broker.StateLog {
	t.Helper()
	sl, ok := s.(broker.StateLog)
	if !ok {
		t.Skipf("%T is not a broker.StateLog", s)
	}
	return sl
}

func mustPut(t *testing.T, s broker.State, recs ...broker.Record) {
	t.Helper()
	if err := s.Put(context.Background(), recs); err != nil {
		t.Fatalf("Put(%d records): %v", len(recs), err)
	}
}

func mustExpire(t *testing.T, s broker.State, now time.Time) int {
	t.Helper()
	n, err := s.Expire(context.Background(), now)
	if err != nil {
		t.Fatalf("Expire(%v): %v", now, err)
	}
	return n
}

// rec returns a record with value v, never expiring.
func rec(key, v string) broker.Record { return broker.Record{Key: key, Value: []byte(v)} }

// checkGet checks that key holds value v with expiry exp, or, when v is
// "-", that it is not found.
func checkGet(t *testing.T, s broker.State, key, v string, exp time.Time) {
	t.Helper()
	r, err := s.Get(context.Background(), key)
	if v == "-" {
		if !errors.Is(err, broker.ErrNotFound) {
			t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, r.Value, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if r.Key != key || string(r.Value) != v || r.Value == nil || !r.Expires.Equal(exp) {
		t.Fatalf("Get(%q) = {%q %q %v}, want {%q %q %v}", key, r.Key, r.Value, r.Expires, key, v, exp)
	}
}

// scanKeys returns the keys Scan(prefix) yields, stopping after stop keys
// when stop > 0.
func scanKeys(t *testing.T, s broker.State, prefix string, stop int) []string {
	t.Helper()
	var keys []string
	err := s.Scan(context.Background(), prefix, func(r broker.Record) bool {
		keys = append(keys, r.Key)
		return stop <= 0 || len(keys) < stop
	})
	if err != nil {
		t.Fatalf("Scan(%q): %v", prefix, err)
	}
	return keys
}

func testStateGetPutDelete(t *testing.T, open func() ClosableState) {
	s := openState(t, open)
	exp := time.Now().Add(1000 * time.Hour) // nanoseconds too
	steps := []struct {
		name string
		put  []broker.Record
		key  string
		want string // "-": not found
		exp  time.Time
	}{
		{"missing", nil, "sio/a", "-", time.Time{}},
		{"put", []broker.Record{rec("sio/a", "one")}, "sio/a", "one", time.Time{}},
		{"overwrite with expiry", []broker.Record{{Key: "sio/a", Value: []byte("two"), Expires: exp}}, "sio/a", "two", exp},
		{"empty value is a record", []broker.Record{{Key: "sio/e", Value: []byte{}}}, "sio/e", "", time.Time{}},
		{"delete", []broker.Record{{Key: "sio/a"}}, "sio/a", "-", time.Time{}},
		{"delete missing", []broker.Record{{Key: "sio/never"}}, "sio/never", "-", time.Time{}},
		{"put again", []broker.Record{rec("sio/a", "three")}, "sio/a", "three", time.Time{}},
		{"empty batch", []broker.Record{}, "sio/a", "three", time.Time{}},
		{"all key characters", []broker.Record{rec("aZ09_-.:@/x", "k")}, "aZ09_-.:@/x", "k", time.Time{}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.put != nil {
				mustPut(t, s, st.put...)
			}
			checkGet(t, s, st.key, st.want, st.exp)
		})
	}
}

func testStateOwnership(t *testing.T, open func() ClosableState) {
	s := openState(t, open)
	v := []byte("original")
	mustPut(t, s, broker.Record{Key: "k", Value: v})
	copy(v, "CHANGED!")
	checkGet(t, s, "k", "original", time.Time{})
	r, err := s.Get(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	copy(r.Value, "CHANGED!")
	checkGet(t, s, "k", "original", time.Time{})
	_ = s.Scan(context.Background(), "", func(r broker.Record) bool { copy(r.Value, "CHANGED!"); return true })
	checkGet(t, s, "k", "original", time.Time{})
}

func testStateBatchOrder(t *testing.T, open func() ClosableState) {
	s := openState(t, open)
	exp := base.Add(time.Hour)
	mustPut(t, s, rec("b", "old"))
	mustPut(t, s,
		rec("a", "1"), rec("b", "1"), rec("a", "2"),
		broker.Record{Key: "b"}, rec("c", "1"),
		broker.Record{Key: "c", Value: []byte("2"), Expires: exp},
		broker.Record{Key: "d"}, rec("d", "1"),
	)
	checkGet(t, s, "a", "2", time.Time{})
	checkGet(t, s, "b", "-", time.Time{})
	checkGet(t, s, "c", "-", time.Time{}) // expired: base is in the past
	checkGet(t, s, "d", "1", time.Time{})
	// The later record's expiry won: Expire removes c.
	if n := mustExpire(t, s, exp); n != 1 {
		t.Fatalf("Expire removed %d records, want 1 (c)", n)
	}
	if got := scanKeys(t, s, "", 0); strings.Join(got, ",") != "a,d" {
		t.Fatalf("keys %v, want [a d]", got)
	}
}

func testStateInvalid(t *testing.T, open func() ClosableState) {
	s := openState(t, open)
	mustPut(t, s, rec("keep", "v"))
	big := make([]byte, broker.MaxStateValueLen+1)
	tests := []struct {
		name     string
		bad      broker.Record
		tooLarge bool
	}{
		{"empty key", rec("", "v"), false},
		{"space in key", rec("a b", "v"), false},
		{"non-ASCII key", rec("clé", "v"), false},
		{"key too long", rec(strings.Repeat("k", broker.MaxStateKeyLen+1), "v"), false},
		{"value too large", broker.Record{Key: "big", Value: big}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Put(context.Background(), []broker.Record{rec("new", "v"), {Key: "keep"}, tc.bad})
			if !errors.Is(err, broker.ErrInvalid) {
				t.Fatalf("Put: error %v, want ErrInvalid", err)
			}
			if tc.tooLarge && !errors.Is(err, broker.ErrTooLarge) {
				t.Errorf("Put: error %v, want ErrTooLarge too", err)
			}
			checkGet(t, s, "new", "-", time.Time{})
			checkGet(t, s, "keep", "v", time.Time{})
		})
	}
	t.Run("largest value and key", func(t *testing.T) {
		key := strings.Repeat("k", broker.MaxStateKeyLen)
		mustPut(t, s, broker.Record{Key: key, Value: big[:broker.MaxStateValueLen]})
		r, err := s.Get(context.Background(), key)
		if err != nil || len(r.Value) != broker.MaxStateValueLen {
			t.Fatalf("Get = %d bytes, %v", len(r.Value), err)
		}
	})
	t.Run("Get and Scan of a bad key", func(t *testing.T) {
		if _, err := s.Get(context.Background(), "a b"); !errors.Is(err, broker.ErrInvalid) {
			t.Errorf("Get: error %v, want ErrInvalid", err)
		}
		err := s.Scan(context.Background(), "a b", func(broker.Record) bool { return true })
		if !errors.Is(err, broker.ErrInvalid) {
			t.Errorf("Scan: error %v, want ErrInvalid", err)
		}
	})
}

func testStateScan(t *testing.T, open func() ClosableState) {
	s := openState(t, open)
	mustPut(t, s, rec("a/2", "x"), rec("b/1", "x"), rec("a", "x"), rec("a/10", "x"), rec("a/1", "x"),
		rec("a0", "x"), broker.Record{Key: "a/gone", Value: []byte("x"), Expires: time.Now().Add(-time.Second)})
	tests := []struct {
		prefix string
		stop   int
		want   string
	}{
		{"a/", 0, "a/1,a/10,a/2"},
		{"a", 0, "a,a/1,a/10,a/2,a0"},
		{"", 0, "a,a/1,a/10,a/2,a0,b/1"},
		{"a/", 2, "a/1,a/10"},
		{"", 1, "a"},
		{"c", 0, ""},
		{"a/10", 0, "a/10"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q stop %d", tc.prefix, tc.stop), func(t *testing.T) {
			if got := strings.Join(scanKeys(t, s, tc.prefix, tc.stop), ","); got != tc.want {
				t.Errorf("Scan = %s, want %s", got, tc.want)
			}
		})
	}
	var got broker.Record
	_ = s.Scan(context.Background(), "b/", func(r broker.Record) bool { got = r; return true })
	if got.Key != "b/1" || string(got.Value) != "x" || !got.Expires.IsZero() {
		t.Errorf("Scan record %+v", got)
	}
}

// testStateScanSnapshot writes from inside Scan's callback: the scan goes
// on over the snapshot it started with, and the writes are done.
func testStateScanSnapshot(t *testing.T, open func() ClosableState) {
	s := openState(t, open)
	mustPut(t, s, rec("p/1", "a"), rec("p/2", "b"), rec("p/3", "c"))
	var seen []string
	err := s.Scan(context.Background(), "p/", func(r broker.Record) bool {
		seen = append(seen, r.Key+"="+string(r.Value))
		if r.Key == "p/1" {
			mustPut(t, s, broker.Record{Key: "p/2"}, rec("p/3", "changed"), rec("p/25", "new"))
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(seen, ","); got != "p/1=a,p/2=b,p/3=c" {
		t.Errorf("Scan saw %s, want its snapshot p/1=a,p/2=b,p/3=c", got)
	}
	if got := strings.Join(scanKeys(t, s, "p/", 0), ","); got != "p/1,p/25,p/3" {
		t.Errorf("after: %s, want p/1,p/25,p/3", got)
	}
}

func testStateExpiredHidden(t *testing.T, open func() ClosableState) {
	s := openState(t, open)
	now := time.Now()
	mustPut(t, s,
		broker.Record{Key: "past", Value: []byte("x"), Expires: now.Add(-time.Hour)},
		broker.Record{Key: "soon", Value: []byte("x"), Expires: now.Add(300 * time.Millisecond)},
		broker.Record{Key: "later", Value: []byte("x"), Expires: now.Add(time.Hour)})
	checkGet(t, s, "past", "-", time.Time{})
	checkGet(t, s, "later", "x", now.Add(time.Hour))
	if got := strings.Join(scanKeys(t, s, "", 0), ","); got != "later,soon" && got != "later" {
		t.Errorf("Scan = %s, want later,soon", got)
	}
	time.Sleep(time.Until(now.Add(400 * time.Millisecond)))
	checkGet(t, s, "soon", "-", time.Time{})
	if got := strings.Join(scanKeys(t, s, "", 0), ","); got != "later" {
		t.Errorf("Scan after expiry = %s, want later", got)
	}
}

func testStateExpire(t *testing.T, open func() ClosableState) {
	s := openState(t, open)
	t0 := time.Now().Add(time.Hour)
	var recs []broker.Record
	for i := range 5 {
		recs = append(recs, broker.Record{Key: fmt.Sprintf("e/%d", i), Value: []byte("x"), Expires: t0.Add(time.Duration(i) * time.Minute)})
	}
	recs = append(recs, rec("forever", "x"))
	mustPut(t, s, recs...)
	steps := []struct {
		now  time.Time
		want int
		keys string
	}{
		{t0.Add(-time.Minute), 0, "e/0,e/1,e/2,e/3,e/4,forever"},
		{t0, 1, "e/1,e/2,e/3,e/4,forever"}, // Expires not after now: removed
		{t0, 0, "e/1,e/2,e/3,e/4,forever"},
		{t0.Add(150 * time.Second), 2, "e/3,e/4,forever"},
		{t0.Add(24 * time.Hour), 2, "forever"},
	}
	for _, st := range steps {
		if n := mustExpire(t, s, st.now); n != st.want {
			t.Fatalf("Expire(t0%+v) = %d, want %d", st.now.Sub(t0), n, st.want)
		}
		if got := strings.Join(scanKeys(t, s, "", 0), ","); got != st.keys {
			t.Fatalf("after Expire(t0%+v): %s, want %s", st.now.Sub(t0), got, st.keys)
		}
	}
}

func testStateRenew(t *testing.T, open func() ClosableState) {
	s := openState(t, open)
	t0 := time.Now().Add(time.Hour)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	put := func(key string, exp time.Time) {
		mustPut(t, s, broker.Record{Key: key, Value: []byte(key), Expires: exp})
	}
	put("later", at(1))
	put("later", at(3)) // renewed
	put("never", at(1))
	put("never", time.Time{}) // renewed for ever
	put("sooner", at(3))
	put("sooner", at(1)) // shortened
	put("deleted", at(1))
	mustPut(t, s, broker.Record{Key: "deleted"})
	if n := mustExpire(t, s, at(2)); n != 1 {
		t.Fatalf("Expire = %d, want 1 (sooner)", n)
	}
	checkGet(t, s, "later", "later", at(3))
	checkGet(t, s, "never", "never", time.Time{})
	checkGet(t, s, "sooner", "-", time.Time{})
	if n := mustExpire(t, s, at(100)); n != 1 {
		t.Fatalf("Expire = %d, want 1 (later)", n)
	}
	checkGet(t, s, "never", "never", time.Time{})
}

func testStateReopen(t *testing.T, open func() ClosableState) {
	s := open()
	t0 := time.Now().Add(time.Hour)
	mustPut(t, s, rec("a", "1"), broker.Record{Key: "b", Value: []byte("2"), Expires: t0}, rec("c", "3"))
	mustPut(t, s, broker.Record{Key: "c"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openState(t, open)
	checkGet(t, s, "a", "1", time.Time{})
	checkGet(t, s, "b", "2", t0)
	checkGet(t, s, "c", "-", time.Time{})
	if n := mustExpire(t, s, t0); n != 1 {
		t.Fatalf("Expire after reopen = %d, want 1", n)
	}
	checkGet(t, s, "b", "-", time.Time{})
}

func testStateClosed(t *testing.T, open func() ClosableState) {
	s := open()
	mustPut(t, s, rec("a", "1"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, errGet := s.Get(ctx, "a")
	errPut := s.Put(ctx, []broker.Record{rec("b", "2")})
	errScan := s.Scan(ctx, "", func(broker.Record) bool { return true })
	_, errExpire := s.Expire(ctx, time.Now())
	errs := map[string]error{"Get": errGet, "Put": errPut, "Scan": errScan, "Expire": errExpire}
	if sl, ok := s.(broker.StateLog); ok {
		_, errs["AppendWith"] = sl.AppendWith(ctx, nil, []broker.Record{rec("b", "2")})
	}
	for name, err := range errs {
		if !errors.Is(err, broker.ErrClosed) {
			t.Errorf("%s after Close: error %v, want ErrClosed", name, err)
		}
	}
	s = openState(t, open)
	checkGet(t, s, "b", "-", time.Time{})
}

func testAppendWith(t *testing.T, open func() ClosableState) {
	s := open()
	sl := stateLog(t, s)
	var g gen
	ctx := context.Background()
	e1 := g.entries("r", "q")
	evs, err := sl.AppendWith(ctx, e1, []broker.Record{rec("pos/r", "1"), rec("pos/q", "2"), rec("pos/r", "3")})
	if err != nil {
		t.Fatal(err)
	}
	checkEvents(t, "AppendWith", evs, []*broker.Event{wantEvent(1, e1[0]), wantEvent(2, e1[1])})
	checkGet(t, s, "pos/r", "3", time.Time{})
	// An idempotent replay still writes its records.
	e2 := g.entry("r")
	e2.IdempotencyKey = "once"
	mustAppend(t, sl, e2)
	e3 := g.entry("r")
	e3.IdempotencyKey = "once"
	evs, err = sl.AppendWith(ctx, []broker.Entry{e3}, []broker.Record{{Key: "pos/q"}})
	if err != nil || len(evs) != 1 || evs[0].ID != e2.ID {
		t.Fatalf("replayed AppendWith = %v, %v", evs, err)
	}
	checkGet(t, s, "pos/q", "-", time.Time{})
	// A canceled context commits neither.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := sl.AppendWith(cctx, g.entries("r"), []broker.Record{rec("pos/c", "x")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled AppendWith: error %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openState(t, open)
	sl = stateLog(t, s)
	if h := sl.Head(); h != 3 {
		t.Fatalf("Head() after reopen = %d, want 3", h)
	}
	checkGet(t, s, "pos/r", "3", time.Time{})
	checkGet(t, s, "pos/q", "-", time.Time{})
	checkGet(t, s, "pos/c", "-", time.Time{})
}

func testAppendWithInvalid(t *testing.T, open func() ClosableState) {
	s := openState(t, open)
	sl := stateLog(t, s)
	var g gen
	mustAppend(t, sl, g.entry("r"))
	_, err := sl.AppendWith(context.Background(), g.entries("r", "r"), []broker.Record{rec("ok", "x"), rec("bad key", "x")})
	if !errors.Is(err, broker.ErrInvalid) {
		t.Fatalf("AppendWith with a bad record: error %v, want ErrInvalid", err)
	}
	if h := sl.Head(); h != 1 {
		t.Errorf("Head() = %d, want 1: events of the failed AppendWith committed", h)
	}
	if got := readAll(t, sl, []string{"r"}, 0); len(got) != 1 {
		t.Errorf("room r has %d events, want 1", len(got))
	}
	checkGet(t, s, "ok", "-", time.Time{})
}

func testAppendWithRecordsOnly(t *testing.T, open func() ClosableState) {
	s := openState(t, open)
	sl := stateLog(t, s)
	var g gen
	ctx := context.Background()
	mustAppend(t, sl, g.entry("r"))
	for _, tc := range []struct {
		name string
		recs []broker.Record
	}{
		{"records only", []broker.Record{rec("only", "x")}},
		{"neither", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := sl.AppendWith(ctx, nil, tc.recs)
			if err != nil || len(evs) != 0 {
				t.Fatalf("AppendWith(no entries) = %v, %v", evs, err)
			}
			if h := sl.Head(); h != 1 {
				t.Errorf("Head() = %d, want 1", h)
			}
		})
	}
	checkGet(t, s, "only", "x", time.Time{})
	if evs := mustAppend(t, sl, g.entry("r")); evs[0].Offset != 2 {
		t.Errorf("next offset %d, want 2", evs[0].Offset)
	}
}

// testStateConcurrent runs writers, readers, scanners and Expire at once
// (run it with -race); each writer owns its keys and checks them at the
// end. A StateLog also gets AppendWith writers.
func testStateConcurrent(t *testing.T, open func() ClosableState) {
	s := openState(t, open)
	sl, _ := s.(broker.StateLog)
	const writers, rounds = 6, 30
	ctx := context.Background()
	past := time.Now().Add(-time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, 3*writers)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			var g gen
			for i := range rounds {
				key := fmt.Sprintf("w%d/%d", w, i%5)
				recs := []broker.Record{
					{Key: key, Value: fmt.Appendf(nil, "%d", i)},
					{Key: fmt.Sprintf("w%d/tmp", w), Value: []byte("x"), Expires: past},
				}
				var err error
				if sl != nil && i%2 == 1 {
					_, err = sl.AppendWith(ctx, g.entries(fmt.Sprintf("r%d", w)), recs)
				} else {
					err = s.Put(ctx, recs)
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d round %d: %w", w, i, err)
					return
				}
			}
		})
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Get(ctx, fmt.Sprintf("w%d/0", (w+1)%writers)); err != nil && !errors.Is(err, broker.ErrNotFound) {
					errs <- err
					return
				}
				last := ""
				err := s.Scan(ctx, "w", func(r broker.Record) bool {
					if r.Key <= last || strings.HasSuffix(r.Key, "/tmp") {
						errs <- fmt.Errorf("Scan yielded %q after %q", r.Key, last)
						return false
					}
					last = r.Key
					return true
				})
				if err == nil && w == 0 {
					_, err = s.Expire(ctx, time.Now())
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for w := range writers {
		for k := range 5 {
			// The last round that wrote key k of writer w.
			last := rounds - 1 - (rounds-1-k)%5
			checkGet(t, s, fmt.Sprintf("w%d/%d", w, k), fmt.Sprint(last), time.Time{})
		}
	}
	mustExpire(t, s, time.Now())
	var n int
	_ = s.Scan(ctx, "", func(broker.Record) bool { n++; return true })
	if n != writers*5 {
		t.Errorf("%d records, want %d", n, writers*5)
	}
}
