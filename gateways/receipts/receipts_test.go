package receipts_test

import (
	"context"
	"strings"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
	"github.com/rtbroker/rtbroker/gateways/receipts"
)

func user(sub string, history ...string) auth.Identity {
	return auth.Identity{Subject: sub, Rooms: &auth.Permissions{History: history, Subscribe: history}}
}

func TestMark(t *testing.T) {
	b, _ := brokertest.NewBroker(t, broker.Config{})
	brokertest.Publish(t, b, "chat:a", "m", "m", "m") // 1 2 3
	brokertest.Publish(t, b, "other", "m")            // 4
	brokertest.Publish(t, b, "chat:a", "m")           // 5
	s := receipts.New(b, receipts.Config{})
	ada := user("ada", "chat:*")
	ctx := context.Background()
	tests := []struct {
		name     string
		id       auth.Identity
		room     string
		offset   uint64
		want     receipts.Marked
		wantCode string
	}{
		{"first mark", ada, "chat:a", 2, receipts.Marked{Room: "chat:a", Offset: 2, Moved: true}, ""},
		{"lower is a no-op answering the position", ada, "chat:a", 1, receipts.Marked{Room: "chat:a", Offset: 2}, ""},
		{"equal is a no-op", ada, "chat:a", 2, receipts.Marked{Room: "chat:a", Offset: 2}, ""},
		{"an offset of another room below the head", ada, "chat:a", 4, receipts.Marked{Room: "chat:a", Offset: 4, Moved: true}, ""},
		{"the head", ada, "chat:a", 5, receipts.Marked{Room: "chat:a", Offset: 5, Moved: true}, ""},
		{"beyond the head", ada, "chat:a", 6, receipts.Marked{}, wire.CodeInvalid},
		{"unknown room", ada, "chat:none", 1, receipts.Marked{}, wire.CodeNotFound},
		{"no permission", ada, "other", 4, receipts.Marked{}, wire.CodeForbidden},
		{"internal room", ada, "_x", 1, receipts.Marked{}, wire.CodeInvalid},
		{"anonymous", auth.Identity{Subject: "anonymous:x", Anonymous: true, Rooms: new(auth.All())}, "chat:a", 1, receipts.Marked{}, wire.CodeForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Mark(ctx, tc.id, tc.room, tc.offset)
			if tc.wantCode != "" {
				if _, code, _ := wire.Classify(err); code != tc.wantCode {
					t.Fatalf("Mark = %+v, %v; want code %s", got, err, tc.wantCode)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Mark = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestMarkSendsReceipt(t *testing.T) {
	b, _ := brokertest.NewBroker(t, broker.Config{})
	brokertest.Publish(t, b, "chat:a", "m", "m")
	s := receipts.New(b, receipts.Config{})
	ctx := context.Background()
	sub, err := b.Subscribe(ctx, []string{"chat:a"}, broker.Position{Epoch: b.Epoch(), Offset: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := s.Mark(ctx, user("ada", "*"), "chat:a", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mark(ctx, user("ada", "*"), "chat:a", 1); err != nil { // no move: no event
		t.Fatal(err)
	}
	evs, err := sub.TryNext(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != receipts.EventType || evs[0].Offset != 0 || evs[0].From != "ada" || string(evs[0].Data) != `{"user":"ada","offset":1}` {
		t.Fatalf("events %v", evs)
	}
}

func TestList(t *testing.T) {
	b, _ := brokertest.NewBroker(t, broker.Config{})
	for range 5 {
		brokertest.Publish(t, b, "chat:a", "m")
		brokertest.Publish(t, b, "chat:b", "m")
		brokertest.Publish(t, b, "secret", "m")
	} // chat:a 1 4 7 10 13, chat:b 2 5 8 11 14
	s := receipts.New(b, receipts.Config{MaxUnread: 3})
	ctx := context.Background()
	ada := user("ada", "chat:*")
	if _, err := s.Mark(ctx, ada, "chat:a", 7); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mark(ctx, ada, "chat:b", 14); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(ctx, ada, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []receipts.Unread{{Room: "chat:a", Head: 13, Read: 7, Unread: 2}, {Room: "chat:b", Head: 14, Read: 14}}
	if got.Truncated || len(got.Rooms) != 2 || got.Rooms[0] != want[0] || got.Rooms[1] != want[1] {
		t.Errorf("List = %+v, want %+v", got, want)
	}
	bob, err := s.List(ctx, user("bob", "*"), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(bob.Rooms) != 3 || bob.Rooms[0] != (receipts.Unread{Room: "chat:a", Head: 13, Unread: 3, Capped: true}) {
		t.Errorf("bob: %+v", bob)
	}
	anon, err := s.List(ctx, auth.Identity{Subject: "anonymous:1", Anonymous: true, Rooms: &auth.Permissions{History: []string{"chat:b"}}}, "")
	if err != nil || len(anon.Rooms) != 1 || anon.Rooms[0].Unread != 3 {
		t.Errorf("anonymous: %+v, %v", anon, err)
	}
	small := receipts.New(b, receipts.Config{MaxRooms: 1})
	if l, err := small.List(ctx, ada, ""); err != nil || !l.Truncated || len(l.Rooms) != 1 {
		t.Errorf("capped listing: %+v, %v", l, err)
	}
	if l, err := s.List(ctx, ada, "chat:"); err != nil || len(l.Rooms) != 2 || l.Rooms[0].Room != "a" {
		t.Errorf("prefixed listing: %+v, %v", l, err)
	}
	// Retention: a position below the earliest retained event counts the retained ones.
	if _, err := b.Trim(ctx, broker.Retention{MaxCount: 1}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.List(ctx, ada, ""); err != nil || got.Rooms[0] != (receipts.Unread{Room: "chat:a", Head: 13, Read: 7, Unread: 1}) {
		t.Errorf("after trim: %+v, %v", got, err)
	}
}

func TestKey(t *testing.T) {
	tests := []struct {
		name, subject, room, want string
	}{
		{"plain", "ada", "chat:a", "read/ada/chat:a"},
		{"email", "ada@example.com", "r", "read/ada@example.com/r"},
		{"escaped", "auth0|a/b_c", "r", "read/auth0_7ca_2fb_5fc/r"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := receipts.Key(tc.subject, tc.room)
			if got != tc.want {
				t.Errorf("Key = %q, want %q", got, tc.want)
			}
			if err := broker.ValidateStateKey(got); err != nil {
				t.Error(err)
			}
		})
	}
	long := receipts.Key(strings.Repeat("é", 200), strings.Repeat("r", broker.MaxRoomLen))
	if err := broker.ValidateStateKey(long); err != nil || !strings.HasPrefix(long, "read/_h") {
		t.Errorf("long subject: %q, %v", long, err)
	}
	if receipts.Key("a_", "r") == receipts.Key("a", "_r") {
		t.Error("keys collide")
	}
}
