package broker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
)

// TestCursorStress runs brokertest.TestCursor (rooms added and removed at
// random positions while publishers and retention run; no gap, no
// duplicate per room, offset order across rooms) on the in-memory log.
func TestCursorStress(t *testing.T) {
	brokertest.TestCursor(t, func(t *testing.T) func() broker.Log {
		s := brokertest.NewMemStore()
		return func() broker.Log { return s.Open() }
	})
}

// cursorLog publishes rooms a, b, c in turn (a: 1, 4, …, 28; b: 2, 5, …,
// 29; c: 3, 6, …, 30), then d (31, 32), and trims to 5 events per room:
// a keeps 16…28 (trimmed through 13), b 17…29 (14), c 18…30 (15), d all.
func cursorLog(t *testing.T, cfg broker.Config) *broker.Broker {
	t.Helper()
	b, _ := newBroker(t, cfg)
	for i := range 30 {
		mustPublish(t, b, msg([]string{"a", "b", "c"}[i%3], "t", i))
	}
	mustPublish(t, b, msg("d", "t", 30))
	mustPublish(t, b, msg("d", "t", 31))
	if _, err := b.Trim(context.Background(), broker.Retention{MaxCount: 5}); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAdd(t *testing.T) {
	b := cursorLog(t, broker.Config{})
	tests := []struct {
		name       string
		room       string
		from       broker.Position
		wantErr    error
		wantReason error // nil: no reset
		wantPos    uint64
		wantFirst  uint64
	}{
		{name: "from zero is not a reset", room: "a", from: broker.Position{}, wantPos: 13, wantFirst: 16},
		{name: "untrimmed room from zero", room: "d", from: broker.Position{}, wantPos: 0, wantFirst: 31},
		{name: "retained position", room: "a", from: broker.Position{Offset: 19}, wantPos: 19, wantFirst: 22},
		{name: "same epoch", room: "a", from: broker.Position{Epoch: b.Epoch(), Offset: 25}, wantPos: 25, wantFirst: 28},
		{name: "trimmed position resets", room: "a", from: broker.Position{Offset: 4}, wantReason: broker.ErrTrimmed, wantPos: 13, wantFirst: 16},
		{name: "other epoch resets", room: "a", from: broker.Position{Epoch: "old", Offset: 19}, wantReason: broker.ErrEpochMismatch, wantPos: 13, wantFirst: 16},
		{name: "beyond the head resets", room: "d", from: broker.Position{Offset: 99}, wantReason: broker.ErrEpochMismatch, wantPos: 0, wantFirst: 31},
		{name: "bad room name", room: "a b", wantErr: broker.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustSubscribe(t, b, nil, broker.Position{})
			re, err := s.Add(context.Background(), tc.room, tc.from)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if len(s.Rooms()) != 0 {
					t.Fatalf("rooms = %v after a failed Add", s.Rooms())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.wantReason == nil && re != nil:
				t.Fatalf("reset = %v, want none", re)
			case tc.wantReason != nil && (re == nil || !errors.Is(re, tc.wantReason) || re.Room != tc.room ||
				re.Requested != tc.from || re.Resume != (broker.Position{Epoch: b.Epoch(), Offset: tc.wantPos})):
				t.Fatalf("reset = %+v, want %v of room %s from %v to %d", re, tc.wantReason, tc.room, tc.from, tc.wantPos)
			}
			if pos, ok := s.RoomPosition(tc.room); !ok || pos != tc.wantPos {
				t.Fatalf("RoomPosition = %d, %v; want %d", pos, ok, tc.wantPos)
			}
			if fmt.Sprint(s.Rooms()) != "["+tc.room+"]" || s.Position().Offset != tc.wantPos {
				t.Fatalf("Rooms = %v, Position = %v", s.Rooms(), s.Position())
			}
			if got := nextN(t, s, 1); got[0].Offset != tc.wantFirst {
				t.Fatalf("first event %d, want %d", got[0].Offset, tc.wantFirst)
			}
		})
	}
}

// TestCursorSemantics runs scripts of Add, Remove and reads on the
// cursorLog and checks what each step returns.
func TestCursorSemantics(t *testing.T) {
	type step struct {
		add, remove string
		from        uint64
		read        string // the offsets the next reads return (nextN of that many), as fmt prints them
		pos         map[string]int64
	}
	tests := []struct {
		name  string
		rooms []string
		from  uint64
		steps []step
	}{
		{name: "rooms at different positions merge in offset order", steps: []step{
			{add: "a", from: 0},
			{add: "b", from: 23, pos: map[string]int64{"a": 13, "b": 23, "c": -1}},
			{read: "[16 19 22 25 26 28 29]", pos: map[string]int64{"a": 32, "b": 32}},
		}},
		{name: "a room added again moves back", rooms: []string{"a"}, from: 22, steps: []step{
			{read: "[25 28]"},
			{add: "a", from: 16, pos: map[string]int64{"a": 16}},
			{read: "[19 22 25 28]"},
		}},
		{name: "a room added again moves forward", rooms: []string{"a", "b"}, from: 13, steps: []step{
			{add: "a", from: 25},
			{read: "[17 20 23 26 28 29]"},
		}},
		{name: "remove then add", rooms: []string{"a", "b"}, from: 20, steps: []step{
			{read: "[22 23]"},
			{remove: "b", pos: map[string]int64{"a": 23, "b": -1}},
			{remove: "c", pos: map[string]int64{"a": 23, "c": -1}},
			{read: "[25 28]"},
			{add: "b", from: 20},
			{read: "[23 26 29]"},
		}},
		{name: "remove every room, add one", rooms: []string{"a"}, steps: []step{
			{remove: "a"},
			{add: "d", from: 31},
			{read: "[32]"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := cursorLog(t, broker.Config{})
			s := mustSubscribe(t, b, tc.rooms, broker.Position{Offset: tc.from})
			for i, st := range tc.steps {
				switch {
				case st.add != "":
					if _, err := s.Add(context.Background(), st.add, broker.Position{Offset: st.from}); err != nil {
						t.Fatalf("step %d: add: %v", i, err)
					}
				case st.remove != "":
					s.Remove(st.remove)
				}
				if st.read != "" {
					n := strings.Count(st.read, " ") + 1
					if got := fmt.Sprint(offsets(nextN(t, s, n))); got != st.read {
						t.Fatalf("step %d: read %s, want %s", i, got, st.read)
					}
				}
				for room, want := range st.pos {
					pos, ok := s.RoomPosition(room)
					if want < 0 && ok || want >= 0 && (!ok || pos != uint64(want)) {
						t.Fatalf("step %d: RoomPosition(%s) = %d, %v; want %d", i, room, pos, ok, want)
					}
				}
			}
			if evs, err := s.TryNext(context.Background(), 0); err != nil || len(evs) > 0 {
				t.Fatalf("at the end: %v, %v; want nothing", offsets(evs), err)
			}
		})
	}
}

// TestResetsPerRoom: a reset names its room and is reported once per room,
// at Subscribe (Reset, then Next for the other rooms) and in Next.
func TestResetsPerRoom(t *testing.T) {
	t.Run("subscribe", func(t *testing.T) {
		b := cursorLog(t, broker.Config{})
		s := mustSubscribe(t, b, []string{"d", "b", "a"}, broker.Position{Offset: 10})
		if r := s.Reset(); r == nil || r.Room != "a" || !errors.Is(r, broker.ErrTrimmed) || r.Resume.Offset != 13 || r.Requested.Offset != 10 {
			t.Fatalf("Reset = %+v, want room a trimmed through 13", r)
		}
		_, err := s.Next(context.Background(), 0)
		var re *broker.ResetError
		if !errors.As(err, &re) || re.Room != "b" || re.Resume.Offset != 14 {
			t.Fatalf("Next = %v, want the reset of room b", err)
		}
		if got := fmt.Sprint(offsets(nextN(t, s, 12))); got != "[16 17 19 20 22 23 25 26 28 29 31 32]" {
			t.Fatalf("events %s", got)
		}
		if s.Position().Offset != 32 {
			t.Errorf("position = %v", s.Position())
		}
	})
	t.Run("epoch concerns every room", func(t *testing.T) {
		b := cursorLog(t, broker.Config{})
		s := mustSubscribe(t, b, []string{"a", "d"}, broker.Position{Epoch: "old", Offset: 10})
		if r := s.Reset(); r == nil || r.Room != "" || !errors.Is(r, broker.ErrEpochMismatch) || r.Resume.Offset != 0 {
			t.Fatalf("Reset = %+v, want an epoch reset of all rooms to 0", r)
		}
		if got := fmt.Sprint(offsets(nextN(t, s, 7))); got != "[16 19 22 25 28 31 32]" {
			t.Fatalf("events %s", got)
		}
	})
	t.Run("next", func(t *testing.T) {
		b, _ := newBroker(t, broker.Config{TailSize: 2})
		s := mustSubscribe(t, b, []string{"a", "b", "c"}, broker.Position{})
		for i := range 12 {
			mustPublish(t, b, msg([]string{"a", "b", "c"}[i%3], "t", i)) // a 1 4 7 10, b 2 5 8 11, c 3 6 9 12
		}
		if _, err := b.Trim(context.Background(), broker.Retention{MaxCount: 2}); err != nil {
			t.Fatal(err)
		}
		s.Remove("c")
		var rooms []string
		for range 2 {
			_, err := s.Next(context.Background(), 0)
			var re *broker.ResetError
			if !errors.As(err, &re) || !errors.Is(err, broker.ErrTrimmed) || re.Requested.Offset != 0 {
				t.Fatalf("Next = %v, want a trimmed reset", err)
			}
			pos, _ := s.RoomPosition(re.Room)
			if pos != re.Resume.Offset {
				t.Errorf("room %s at %d after a reset to %v", re.Room, pos, re.Resume)
			}
			rooms = append(rooms, re.Room)
		}
		if fmt.Sprint(rooms) != "[a b]" {
			t.Fatalf("resets of rooms %v, want a then b (c was removed)", rooms)
		}
		if got := fmt.Sprint(offsets(nextN(t, s, 4))); got != "[7 8 10 11]" {
			t.Fatalf("events %s", got)
		}
	})
}

// TestAddWakes: Add of a room with events wakes a reader waiting in Next,
// a Wait channel and an OnWake callback; Subscribe with no rooms waits.
func TestAddWakes(t *testing.T) {
	b, _ := newBroker(t, broker.Config{})
	mustPublish(t, b, msg("r", "t", 1))
	s := mustSubscribe(t, b, nil, broker.Position{})
	if evs, err := s.TryNext(context.Background(), 0); err != nil || len(evs) > 0 || len(s.Rooms()) != 0 || s.Position().Offset != 0 {
		t.Fatalf("empty subscription: %v, %v, rooms %v, position %v", evs, err, s.Rooms(), s.Position())
	}
	got := make(chan []*broker.Event)
	go func() {
		evs, err := s.Next(context.Background(), 0)
		if err != nil {
			t.Error(err)
		}
		got <- evs
	}()
	time.Sleep(10 * time.Millisecond) // let Next wait
	if _, err := s.Add(context.Background(), "r", broker.Position{}); err != nil {
		t.Fatal(err)
	}
	if evs := <-got; fmt.Sprint(offsets(evs)) != "[1]" {
		t.Fatalf("Next after Add = %v", offsets(evs))
	}

	s2 := mustSubscribe(t, b, nil, broker.Position{})
	<-s2.Wait() // the first token
	woke := make(chan struct{}, 4)
	s2.OnWake(func() { woke <- struct{}{} })
	if _, err := s2.Add(context.Background(), "quiet", broker.Position{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woke:
		t.Fatal("woken by Add of a room with nothing to read")
	default:
	}
	if _, err := s2.Add(context.Background(), "r", broker.Position{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-woke:
	default:
		t.Fatal("OnWake not called by the time Add returned")
	}
	select {
	case <-s2.Wait():
	default:
		t.Fatal("Wait not signalled by Add")
	}
	if evs, err := s2.TryNext(context.Background(), 0); err != nil || fmt.Sprint(offsets(evs)) != "[1]" {
		t.Fatalf("TryNext after Add = %v, %v", offsets(evs), err)
	}
}

// TestEmptySubscriptionClose: a subscription without rooms is ended by
// Close of the broker, and refuses Add after.
func TestEmptySubscriptionClose(t *testing.T) {
	b, _ := newBroker(t, broker.Config{})
	s := mustSubscribe(t, b, []string{"r"}, broker.Position{})
	s.Remove("r")
	done := make(chan error)
	go func() { _, err := s.Next(context.Background(), 0); done <- err }()
	time.Sleep(10 * time.Millisecond)
	b.Close()
	if err := <-done; !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("Next = %v, want ErrClosed", err)
	}
	if _, err := s.Add(context.Background(), "r", broker.Position{}); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("Add after Close = %v", err)
	}
}

// TestRemoveDropsEphemeral: a removed room's pending ephemeral events are
// not returned, and later ones are not queued.
func TestRemoveDropsEphemeral(t *testing.T) {
	b, _ := newBroker(t, broker.Config{})
	s := mustSubscribe(t, b, []string{"a", "b"}, broker.Position{})
	for _, r := range []string{"a", "b", "a"} {
		if _, err := b.PublishEphemeral(msg(r, "typing", r)); err != nil {
			t.Fatal(err)
		}
	}
	s.Remove("a")
	if _, err := b.PublishEphemeral(msg("a", "typing", "late")); err != nil {
		t.Fatal(err)
	}
	evs, err := s.TryNext(context.Background(), 0)
	if err != nil || len(evs) != 1 || evs[0].Room != "b" {
		t.Fatalf("TryNext = %v, %v; want b's ephemeral event only", evs, err)
	}
}

// gateLog blocks the next Log.Read once armed, until released, so a test
// can change a subscription while its reader reads the Log.
type gateLog struct {
	broker.Log
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (g *gateLog) Read(ctx context.Context, rooms []string, after uint64, limit int) (broker.ReadResult, error) {
	if g.armed.CompareAndSwap(true, false) {
		g.entered <- struct{}{}
		<-g.release
	}
	return g.Log.Read(ctx, rooms, after, limit)
}

// TestAddDuringLogRead: an Add made while the reader reads the Log
// (without the subscription's lock) is not overwritten by that read's
// result: the added room's events all come, once.
func TestAddDuringLogRead(t *testing.T) {
	g := &gateLog{Log: brokertest.NewMemLog(), entered: make(chan struct{}), release: make(chan struct{})}
	b := broker.New(g, broker.Config{TailSize: 2})
	t.Cleanup(func() { b.Close(); g.Close() })
	for i := range 10 {
		mustPublish(t, b, msg([]string{"a", "b"}[i%2], "t", i)) // a 1 3 5 7 9, b 2 4 6 8 10
	}
	s := mustSubscribe(t, b, []string{"a"}, broker.Position{Offset: 4})
	g.armed.Store(true)
	got := make(chan []*broker.Event)
	go func() {
		evs, err := s.Next(context.Background(), 0)
		if err != nil {
			t.Error(err)
		}
		got <- evs
	}()
	<-g.entered
	if _, err := s.Add(context.Background(), "b", broker.Position{Offset: 1}); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	evs := <-got
	evs = append(evs, nextN(t, s, 8-len(evs))...)
	if fmt.Sprint(offsets(evs)) != "[2 4 5 6 7 8 9 10]" {
		t.Fatalf("events %v", offsets(evs))
	}
}
