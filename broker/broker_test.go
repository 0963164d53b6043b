package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
)

func newBroker(t testing.TB, cfg broker.Config) (*broker.Broker, broker.Log) {
	t.Helper()
	l := brokertest.NewMemLog()
	b := broker.New(l, cfg)
	t.Cleanup(func() { b.Close(); l.Close() })
	return b, l
}

func msg(room, typ string, data any) broker.Message {
	raw, _ := json.Marshal(data)
	return broker.Message{Room: room, Type: typ, Data: raw, From: "test"}
}

func mustPublish(t testing.TB, b *broker.Broker, m broker.Message) *broker.Event {
	t.Helper()
	ev, err := b.Publish(context.Background(), m)
	if err != nil {
		t.Fatalf("publish %+v: %v", m, err)
	}
	return ev
}

func mustSubscribe(t testing.TB, b *broker.Broker, rooms []string, from broker.Position) *broker.Subscription {
	t.Helper()
	s, err := b.Subscribe(context.Background(), rooms, from)
	if err != nil {
		t.Fatalf("subscribe %v from %v: %v", rooms, from, err)
	}
	t.Cleanup(s.Close)
	return s
}

// nextN reads until it has n events (or fails after a generous deadline).
func nextN(t testing.TB, s *broker.Subscription, n int) []*broker.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*broker.Event
	for len(out) < n {
		evs, err := s.Next(ctx, n-len(out))
		if err != nil {
			t.Fatalf("next after %d of %d events: %v", len(out), n, err)
		}
		out = append(out, evs...)
	}
	return out
}

func offsets(evs []*broker.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Offset
	}
	return out
}

func TestPublishAssignsOffsetsAndFields(t *testing.T) {
	b, _ := newBroker(t, broker.Config{})
	ev := mustPublish(t, b, broker.Message{Room: "lobby", Type: "chat:message", Data: json.RawMessage(`{ "text" : "hi" }`), From: "alice"})
	if ev.Offset != 1 || ev.Room != "lobby" || ev.Type != "chat:message" || ev.From != "alice" {
		t.Fatalf("event = %+v", ev)
	}
	if string(ev.Data) != `{"text":"hi"}` {
		t.Errorf("data = %s, want compacted JSON", ev.Data)
	}
	ev2 := mustPublish(t, b, msg("other", "x", 1))
	if ev2.Offset != 2 {
		t.Errorf("second offset = %d, want 2 (one order over all rooms)", ev2.Offset)
	}
	if got := b.Head(); got.Offset != 2 || got.Epoch != b.Epoch() {
		t.Errorf("head = %v", got)
	}
}

func TestPublishValidation(t *testing.T) {
	b, l := newBroker(t, broker.Config{MaxDataSize: 16})
	tests := []struct {
		name string
		m    broker.Message
		want error
	}{
		{name: "empty room", m: broker.Message{Type: "t", Data: json.RawMessage(`1`)}, want: broker.ErrInvalid},
		{name: "room with space", m: broker.Message{Room: "a b", Type: "t"}, want: broker.ErrInvalid},
		{name: "room too long", m: broker.Message{Room: string(make([]byte, 129)), Type: "t"}, want: broker.ErrInvalid},
		{name: "bad type", m: broker.Message{Room: "r", Type: "x\ny"}, want: broker.ErrInvalid},
		{name: "reserved type", m: broker.Message{Room: "r", Type: "reset"}, want: broker.ErrInvalid},
		{name: "bad json", m: broker.Message{Room: "r", Type: "t", Data: json.RawMessage(`{"a":`)}, want: broker.ErrInvalid},
		{name: "too large", m: broker.Message{Room: "r", Type: "t", Data: json.RawMessage(`"0123456789abcdefghij"`)}, want: broker.ErrTooLarge},
		{name: "long key", m: broker.Message{Room: "r", Type: "t", IdempotencyKey: string(make([]byte, 300))}, want: broker.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.Publish(context.Background(), tc.m)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if l.Head() != 0 {
		t.Errorf("log head = %d after only bad publishes", l.Head())
	}
}

func TestIdempotentPublish(t *testing.T) {
	b, _ := newBroker(t, broker.Config{})
	m := msg("r", "t", "once")
	m.IdempotencyKey = "k1"
	first, replayed, err := b.PublishKeyed(context.Background(), m)
	if err != nil || replayed {
		t.Fatalf("first publish: replayed=%v err=%v", replayed, err)
	}
	again, replayed, err := b.PublishKeyed(context.Background(), m)
	if err != nil || !replayed || again.Offset != first.Offset || again.ID != first.ID {
		t.Fatalf("retry: %+v replayed=%v err=%v, want the first event", again, replayed, err)
	}
	if b.Head().Offset != 1 {
		t.Errorf("head = %d, want 1", b.Head().Offset)
	}
}

func TestSubscribeReplayThenLive(t *testing.T) {
	b, _ := newBroker(t, broker.Config{})
	for i := range 5 {
		mustPublish(t, b, msg("r", "t", i))
		mustPublish(t, b, msg("noise", "t", i))
	}
	s := mustSubscribe(t, b, []string{"r"}, broker.Position{})
	if s.Reset() != nil {
		t.Fatalf("reset = %v for offset 0", s.Reset())
	}
	got := nextN(t, s, 5)
	if fmt.Sprint(offsets(got)) != "[1 3 5 7 9]" {
		t.Fatalf("replay offsets = %v", offsets(got))
	}
	go b.Publish(context.Background(), msg("r", "t", "live"))
	live := nextN(t, s, 1)
	if live[0].Offset != 11 || string(live[0].Data) != `"live"` {
		t.Fatalf("live event = %+v", live[0])
	}
	if s.Position().Offset != 11 {
		t.Errorf("position = %v, want 11", s.Position())
	}
}

func TestSubscribeMultiRoomInOrder(t *testing.T) {
	b, _ := newBroker(t, broker.Config{TailSize: 4})
	for i := range 20 {
		mustPublish(t, b, msg([]string{"a", "b", "c"}[i%3], "t", i))
	}
	s := mustSubscribe(t, b, []string{"c", "a", "a"}, broker.Position{Offset: 2})
	got := nextN(t, s, 12)
	if fmt.Sprint(offsets(got)) != "[4 6 7 9 10 12 13 15 16 18 19]" && len(got) != 12 {
		t.Fatalf("offsets = %v", offsets(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Offset <= got[i-1].Offset || got[i].Room == "b" {
			t.Fatalf("bad order or room at %d: %v", i, offsets(got))
		}
	}
}

func TestSubscribeResets(t *testing.T) {
	b, _ := newBroker(t, broker.Config{})
	for i := range 10 {
		mustPublish(t, b, msg("r", "t", i))
	}
	if _, err := b.Trim(context.Background(), broker.Retention{MaxCount: 4}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		from       broker.Position
		wantReason error // nil: recovered
		wantFirst  uint64
	}{
		{name: "from zero is not a reset", from: broker.Position{}, wantFirst: 7},
		{name: "retained position recovers", from: broker.Position{Offset: 8}, wantFirst: 9},
		{name: "trimmed position resets", from: broker.Position{Offset: 3}, wantReason: broker.ErrTrimmed, wantFirst: 7},
		{name: "other epoch resets", from: broker.Position{Epoch: "old", Offset: 9}, wantReason: broker.ErrEpochMismatch, wantFirst: 7},
		{name: "future offset resets", from: broker.Position{Offset: 99}, wantReason: broker.ErrEpochMismatch, wantFirst: 7},
		{name: "same epoch recovers", from: broker.Position{Epoch: b.Epoch(), Offset: 9}, wantFirst: 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustSubscribe(t, b, []string{"r"}, tc.from)
			r := s.Reset()
			switch {
			case tc.wantReason == nil && r != nil:
				t.Fatalf("reset = %v, want recovered", r)
			case tc.wantReason != nil && (r == nil || !errors.Is(r, tc.wantReason)):
				t.Fatalf("reset = %v, want %v", r, tc.wantReason)
			}
			got := nextN(t, s, 1)
			if got[0].Offset != tc.wantFirst {
				t.Fatalf("first event %d, want %d", got[0].Offset, tc.wantFirst)
			}
		})
	}
}

// A subscriber reading slowly falls out of the tail and then behind
// retention: it is told once, and continues with the earliest retained.
func TestSlowSubscriberOvertakenByRetention(t *testing.T) {
	b, _ := newBroker(t, broker.Config{TailSize: 2})
	mustPublish(t, b, msg("r", "t", 0))
	s := mustSubscribe(t, b, []string{"r"}, broker.Position{})
	for i := 1; i < 10; i++ {
		mustPublish(t, b, msg("r", "t", i))
	}
	if _, err := b.Trim(context.Background(), broker.Retention{MaxCount: 3}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Next(context.Background(), 10)
	var re *broker.ResetError
	if !errors.As(err, &re) || !errors.Is(err, broker.ErrTrimmed) || re.Resume.Offset != 7 {
		t.Fatalf("err = %v, want a trimmed reset resuming at 7", err)
	}
	if got := offsets(nextN(t, s, 3)); fmt.Sprint(got) != "[8 9 10]" {
		t.Fatalf("after reset: %v", got)
	}
}

func TestEphemeralIsNotLogged(t *testing.T) {
	b, l := newBroker(t, broker.Config{EphemeralBuffer: 2})
	s := mustSubscribe(t, b, []string{"r"}, broker.Position{})
	for i := range 3 {
		if _, err := b.PublishEphemeral(msg("r", "typing", i)); err != nil {
			t.Fatal(err)
		}
	}
	got := nextN(t, s, 2)
	if !got[0].Ephemeral() || string(got[0].Data) != "1" || string(got[1].Data) != "2" {
		t.Fatalf("ephemeral = %s %s, want the newest two", got[0].Data, got[1].Data)
	}
	if l.Head() != 0 {
		t.Errorf("log head = %d, ephemeral events must not be logged", l.Head())
	}
	if string(got[0].JSON()[:17]) != `{"ephemeral":true` {
		t.Errorf("json = %s", got[0].JSON())
	}
}

func TestCloseEndsSubscriptionsAndRefusesPublishes(t *testing.T) {
	l := brokertest.NewMemLog()
	defer l.Close()
	b := broker.New(l, broker.Config{})
	s, err := b.Subscribe(context.Background(), []string{"r"}, broker.Position{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { _, err := s.Next(context.Background(), 0); done <- err }()
	b.Close()
	if err := <-done; !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Next after Close = %v", err)
	}
	if _, err := b.Publish(context.Background(), msg("r", "t", 1)); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Publish after Close = %v", err)
	}
	if _, err := b.Subscribe(context.Background(), []string{"r"}, broker.Position{}); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Subscribe after Close = %v", err)
	}
}

// TestNoGapNoDuplicate runs publishers and many cursor subscribers joining
// at random positions, some reading slowly with a tiny tail so they fall
// back to the log, and checks every subscriber saw exactly its rooms'
// events after its start position, in order, once.
func TestNoGapNoDuplicate(t *testing.T) {
	b, l := newBroker(t, broker.Config{TailSize: 32, MaxBatch: 16})
	rooms := []string{"r0", "r1", "r2", "r3"}
	const publishers, perPublisher, subscribers = 8, 250, 40

	type result struct {
		rooms []string
		start uint64
		got   []*broker.Event
		err   error
	}
	results := make([]result, subscribers)
	var subs, pubs sync.WaitGroup
	stop := make(chan struct{})
	for i := range subscribers {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		res := &results[i]
		res.rooms = []string{rooms[rng.IntN(len(rooms))]}
		if i%3 == 0 {
			res.rooms = append(res.rooms, rooms[rng.IntN(len(rooms))])
		}
		slow := i%4 == 0
		subs.Go(func() {
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
			head := b.Head().Offset
			res.start = uint64(rng.Int64N(int64(head) + 1))
			s, err := b.Subscribe(context.Background(), res.rooms, broker.Position{Offset: res.start})
			if err != nil {
				res.err = err
				return
			}
			defer s.Close()
			for {
				select {
				case <-stop:
					if s.Position().Offset >= b.Head().Offset {
						return
					}
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				evs, err := s.Next(ctx, 1+rng.IntN(8))
				cancel()
				if err != nil && !errors.Is(err, context.DeadlineExceeded) {
					res.err = err
					return
				}
				res.got = append(res.got, evs...)
				if slow {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	for p := range publishers {
		pubs.Go(func() {
			for i := range perPublisher {
				room := rooms[(p+i)%len(rooms)]
				if _, err := b.Publish(context.Background(), msg(room, "t", i)); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
			}
		})
	}
	pubs.Wait()
	close(stop)
	subs.Wait()

	all, err := l.Read(context.Background(), rooms, 0, publishers*perPublisher+1)
	if err != nil || len(all.Events) != publishers*perPublisher {
		t.Fatalf("read back %d events, err %v", len(all.Events), err)
	}
	for i, res := range results {
		if res.err != nil {
			t.Fatalf("subscriber %d: %v", i, res.err)
		}
		var want []uint64
		for _, ev := range all.Events {
			if ev.Offset > res.start && (ev.Room == res.rooms[0] || ev.Room == res.rooms[len(res.rooms)-1]) {
				want = append(want, ev.Offset)
			}
		}
		if got := offsets(res.got); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("subscriber %d (rooms %v from %d): got %d events, want %d\ngot  %v\nwant %v", i, res.rooms, res.start, len(got), len(want), got, want)
		}
	}
}

// With several rooms, a trim in one room must not skip retained events of
// another: the reset is reported and every retained event still comes.
func TestMultiRoomResetKeepsOtherRooms(t *testing.T) {
	b, _ := newBroker(t, broker.Config{TailSize: 2})
	for i := range 10 {
		mustPublish(t, b, msg("busy", "t", i)) // 1..10
	}
	for i := range 3 {
		mustPublish(t, b, msg("quiet", "t", i)) // 11..13
	}
	for i := range 10 {
		mustPublish(t, b, msg("busy", "t", i)) // 14..23
	}
	if _, err := b.Trim(context.Background(), broker.Retention{MaxCount: 5}); err != nil { // busy keeps 19..23
		t.Fatal(err)
	}
	s := mustSubscribe(t, b, []string{"busy", "quiet"}, broker.Position{Offset: 5})
	if r := s.Reset(); r == nil || !errors.Is(r, broker.ErrTrimmed) {
		t.Fatalf("reset = %v, want trimmed", r)
	}
	if got := fmt.Sprint(offsets(nextN(t, s, 8))); got != "[11 12 13 19 20 21 22 23]" {
		t.Fatalf("events = %s, want quiet's 11..13 and busy's retained 19..23", got)
	}
}

// TestOnWake checks that the callback fires, outside the broker's lock
// (it may read the subscription), for each kind of wake-up: a commit to a
// subscribed room, an ephemeral event, Close of the subscription and Close
// of the broker; and not for other rooms' commits.
func TestOnWake(t *testing.T) {
	for _, tc := range []struct {
		name  string
		poke  func(b *broker.Broker, s *broker.Subscription)
		wakes bool
	}{
		{name: "commit", poke: func(b *broker.Broker, _ *broker.Subscription) { mustPublish(t, b, msg("r", "t", 1)) }, wakes: true},
		{name: "other room", poke: func(b *broker.Broker, _ *broker.Subscription) { mustPublish(t, b, msg("other", "t", 1)) }},
		{name: "ephemeral", poke: func(b *broker.Broker, _ *broker.Subscription) {
			if _, err := b.PublishEphemeral(msg("r", "typing", 1)); err != nil {
				t.Fatal(err)
			}
		}, wakes: true},
		{name: "close subscription", poke: func(_ *broker.Broker, s *broker.Subscription) { s.Close() }, wakes: true},
		{name: "close broker", poke: func(b *broker.Broker, _ *broker.Subscription) { b.Close() }, wakes: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := newBroker(t, broker.Config{})
			s := mustSubscribe(t, b, []string{"r"}, broker.Position{})
			woke := make(chan broker.Position, 8)
			// Position takes no lock, Head takes the broker's read lock: a
			// callback run under the broker's lock would deadlock here.
			s.OnWake(func() { _ = b.Head(); woke <- s.Position() })
			<-s.Wait() // the channel starts with a token: take it
			tc.poke(b, s)
			select {
			case <-woke:
				if !tc.wakes {
					t.Fatal("woken by a commit to another room")
				}
			default:
				if tc.wakes {
					t.Fatal("no wake-up by the time the call returned")
				}
			}
			select {
			case <-s.Wait():
				if !tc.wakes {
					t.Error("Wait's channel signalled by a commit to another room")
				}
			default:
				if tc.wakes {
					t.Error("Wait's channel was not signalled as well")
				}
			}
		})
	}
}
