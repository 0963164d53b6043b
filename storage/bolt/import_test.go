package bolt

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rtbroker/rtbroker/broker"
)

// importEvents returns events of room at offsets offs.
func importEvents(room string, offs ...uint64) []*broker.Event {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	out := make([]*broker.Event, len(offs))
	for i, off := range offs {
		out[i] = &broker.Event{Offset: off, ID: ulid.Make(), Room: room, Type: "chat:message", Data: []byte(`{"n":1}`),
			Time: t0.Add(time.Duration(off) * time.Millisecond), From: "ada"}
	}
	return out
}

// TestImport: events written at their own offsets (with gaps) read back
// as given, move the head, and Append continues after them; an import
// that does not start above the head is a conflict and bad events are
// invalid, and neither writes anything. The file passes Check.
func TestImport(t *testing.T) {
	l, path := openTemp(t, Options{})
	ctx := context.Background()
	evs := append(importEvents("a", 3, 4, 9), importEvents("b", 12)...)
	if err := l.Import(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if l.Head() != 12 {
		t.Fatalf("head %d, want 12", l.Head())
	}
	res, err := l.Read(ctx, []string{"a", "b"}, 0, 100)
	if err != nil || len(res.Events) != 4 {
		t.Fatalf("read: %v %v", err, res.Events)
	}
	for i, e := range res.Events {
		w := evs[i]
		if e.Offset != w.Offset || e.ID != w.ID || e.Room != w.Room || e.Type != w.Type || string(e.Data) != string(w.Data) || !e.Time.Equal(w.Time) || e.From != w.From {
			t.Fatalf("event %d: %+v, want %+v", i, e, w)
		}
	}
	for _, tc := range []struct {
		name string
		evs  []*broker.Event
		want error
	}{
		{"at the head", importEvents("a", 12, 13), broker.ErrConflict},
		{"below the head", importEvents("a", 5), broker.ErrConflict},
		{"not ascending", importEvents("a", 20, 20), broker.ErrInvalid},
		{"no offset", importEvents("a", 0), broker.ErrInvalid},
		{"bad room", importEvents("bad room!", 30), broker.ErrInvalid},
		{"bad data", func() []*broker.Event { e := importEvents("a", 30); e[0].Data = []byte("{"); return e }(), broker.ErrInvalid},
	} {
		if err := l.Import(ctx, tc.evs); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if l.Head() != 12 {
		t.Fatalf("head %d after refused imports, want 12", l.Head())
	}
	out, err := l.Append(ctx, entries(1, "a", time.Now()))
	if err != nil || out[0].Offset != 13 {
		t.Fatalf("append after the import: %v %v", out, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := Check(path); err != nil || !rep.OK() || rep.Events != 5 {
		t.Fatalf("check: %v %+v", err, rep)
	}
}

// TestBrokerImport: Broker.Import on a bbolt log makes the events visible
// to a live subscriber like published ones, and publishes that race with
// it are all committed, before or after it: an import whose offsets the
// racing publishes took is refused as a conflict, never interleaved.
func TestBrokerImport(t *testing.T) {
	l, _ := openTemp(t, Options{})
	b := broker.New(l, broker.Config{})
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := b.Subscribe(ctx, []string{"a"}, broker.Position{Epoch: b.Epoch(), Offset: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := b.Import(ctx, importEvents("a", 2, 5, 7)); err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for len(got) < 3 {
		evs, err := sub.Next(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			got = append(got, e.Offset)
		}
	}
	if len(got) != 3 || got[0] != 2 || got[1] != 5 || got[2] != 7 {
		t.Fatalf("subscriber got %v, want [2 5 7]", got)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if _, err := b.Publish(ctx, broker.Message{Room: "a", Type: "t", Data: []byte("1")}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	next := uint64(8)
	conflicts := 0
	for i := range 20 {
		err := b.Import(ctx, importEvents("a", next+uint64(i)))
		switch {
		case err == nil:
		case errors.Is(err, broker.ErrConflict):
			conflicts++
		default:
			t.Fatal(err)
		}
		next = b.Head().Offset + 1
	}
	wg.Wait()
	res, err := l.Read(ctx, []string{"a"}, 7, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if want := 200 + 20 - conflicts; len(res.Events) != want {
		t.Fatalf("%d events after offset 7, want %d (200 published, %d imported)", len(res.Events), want, 20-conflicts)
	}
	for len(got) < 3+len(res.Events) {
		evs, err := sub.Next(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Offset <= got[len(got)-1] {
				t.Fatalf("subscriber got offset %d after %d", e.Offset, got[len(got)-1])
			}
			got = append(got, e.Offset)
		}
	}
}
