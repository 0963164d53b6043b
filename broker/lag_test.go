package broker_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
)

// TestSubscriptionLag: Lag counts the events of the subscription's rooms
// after their positions, from the tail and (for positions the tail does
// not cover) from the log, capped per room; reading brings it to 0.
func TestSubscriptionLag(t *testing.T) {
	b, _ := newBroker(t, broker.Config{TailSize: 4})
	ctx := context.Background()
	for i := range 10 {
		room := "a"
		if i%2 == 1 {
			room = "b"
		}
		mustPublish(t, b, msg(room, "m", i))
	}
	s := mustSubscribe(t, b, []string{"a", "b"}, broker.Position{Offset: 2}) // 8 events after 2, most beyond the tail
	for _, tc := range []struct {
		name  string
		limit int
		want  int
	}{
		{"all", 100, 8},
		{"capped per room", 3, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n, err := s.Lag(ctx, tc.limit); err != nil || n != tc.want {
				t.Errorf("Lag(%d) = %d, %v; want %d", tc.limit, n, err, tc.want)
			}
		})
	}
	nextN(t, s, 8)
	if n, err := s.Lag(ctx, 100); err != nil || n != 0 {
		t.Errorf("Lag after reading = %d, %v; want 0", n, err)
	}
	mustPublish(t, b, msg("a", "m", 10))
	mustPublish(t, b, msg("c", "m", 11))
	if n, err := s.Lag(ctx, 100); err != nil || n != 1 {
		t.Errorf("Lag after one more event of a = %d, %v; want 1", n, err)
	}
	s.Close()
	if n, err := s.Lag(ctx, 100); err != nil || n != 0 {
		t.Errorf("Lag of a closed subscription = %d, %v; want 0", n, err)
	}
}

// TestTrimRoom: TrimRoom cuts one room before an offset or to its newest
// events, leaves the others, and a subscriber from a removed position is
// told with a reset.
func TestTrimRoom(t *testing.T) {
	b, _ := newBroker(t, broker.Config{})
	ctx := context.Background()
	for i := range 10 {
		mustPublish(t, b, msg("a", "m", i)) // 1..10
	}
	mustPublish(t, b, msg("b", "m", 0)) // 11
	if _, err := b.TrimRoom(ctx, "a", 0, 0); !errors.Is(err, broker.ErrInvalid) {
		t.Errorf("TrimRoom without a limit: %v, want ErrInvalid", err)
	}
	if _, err := b.TrimRoom(ctx, "bad room", 5, 0); !errors.Is(err, broker.ErrInvalid) {
		t.Errorf("TrimRoom of a bad name: %v, want ErrInvalid", err)
	}
	if n, err := b.TrimRoom(ctx, "a", 5, 0); err != nil || n != 4 {
		t.Fatalf("TrimRoom before 5 = %d, %v; want 4", n, err)
	}
	if n, err := b.TrimRoom(ctx, "a", 0, 3); err != nil || n != 3 {
		t.Fatalf("TrimRoom keeping 3 = %d, %v; want 3", n, err)
	}
	rooms, err := b.Rooms(ctx)
	if err != nil || len(rooms) != 2 || rooms[0].First != 8 || rooms[0].Count != 3 || rooms[1].Count != 1 {
		t.Fatalf("rooms after the trims: %+v, %v", rooms, err)
	}
	s := mustSubscribe(t, b, []string{"a"}, broker.Position{Offset: 2})
	if re := s.Reset(); re == nil || !errors.Is(re.Reason, broker.ErrTrimmed) || re.Resume.Offset != 7 {
		t.Errorf("subscriber from 2: reset %v, want trimmed, resuming at 7", re)
	}
}

// TestReplayStats: events a subscriber reads that were committed before
// it followed their room count as replayed (from the tail or the log);
// live ones do not, and LiveAfter tells them apart.
func TestReplayStats(t *testing.T) {
	b, _ := newBroker(t, broker.Config{TailSize: 4})
	for i := range 10 {
		mustPublish(t, b, msg("a", "m", i))
	}
	s := mustSubscribe(t, b, []string{"a"}, broker.Position{}) // 1..10: 6 from the log, 4 from the tail
	if s.LiveAfter() != 10 {
		t.Errorf("LiveAfter = %d, want the head 10", s.LiveAfter())
	}
	nextN(t, s, 10)
	st := b.Stats()
	if st.ReplayLog+st.ReplayTail != 10 || st.ReplayLog == 0 {
		t.Errorf("replayed %d from the log and %d from the tail, want 10 in all, some from the log", st.ReplayLog, st.ReplayTail)
	}
	mustPublish(t, b, msg("a", "m", 10))
	nextN(t, s, 1)
	if st2 := b.Stats(); st2.ReplayLog+st2.ReplayTail != 10 || st2.ReadTail+st2.ReadLog != st.ReadTail+st.ReadLog+1 {
		t.Errorf("after a live event: %+v, want it read and not replayed", st2)
	}
	mustPublish(t, b, msg("c", "m", 11)) // 12
	if _, err := s.Add(context.Background(), "c", broker.Position{Offset: 11}); err != nil {
		t.Fatal(err)
	}
	if s.LiveAfter() != 12 {
		t.Errorf("LiveAfter after Add = %d, want 12", s.LiveAfter())
	}
	nextN(t, s, 1)
	if st3 := b.Stats(); st3.ReplayLog+st3.ReplayTail != 11 {
		t.Errorf("after joining c from 11: replayed %d, want 11", st3.ReplayLog+st3.ReplayTail)
	}
}

// TestResumeStats: a Subscribe from a position that is refused counts as a
// refusal by reason, like a join (SSE's Last-Event-ID and long-poll's after
// subscribe this way); a served one is not a recovery (a long-poll
// subscribes from a position on every request), from 0 counts as neither.
func TestResumeStats(t *testing.T) {
	b, _ := newBroker(t, broker.Config{})
	for i := range 3 {
		mustPublish(t, b, msg("a", "m", i))
	}
	mustSubscribe(t, b, []string{"a"}, broker.Position{})
	mustSubscribe(t, b, []string{"a"}, broker.Position{Epoch: b.Epoch(), Offset: 2})
	mustSubscribe(t, b, []string{"a"}, broker.Position{Epoch: "01ANOTHEREPOCH0000000000000", Offset: 2})
	st := b.Stats()
	if st.Resumed != 0 || st.ResetEpoch != 1 || st.ResetTrimmed != 0 {
		t.Errorf("resumed %d, epoch resets %d, trimmed resets %d; want 0, 1, 0", st.Resumed, st.ResetEpoch, st.ResetTrimmed)
	}
}
