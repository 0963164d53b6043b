package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startNATS starts a JetStream-enabled nats-server on a loopback port, its
// store in a temporary directory, stopped when the test ends.
func startNATS(t testing.TB) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true, MaxPayload: 4 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready within 10s")
	}
	return s.ClientURL()
}

// TestServeOnJetStream runs serve with --store jetstream: events published
// on one node (with an Idempotency-Key retried) are read back from a
// second node started on the same NATS server after the first stopped,
// under the same epoch, and offsets go on.
func TestServeOnJetStream(t *testing.T) {
	url := startNATS(t)
	c := &http.Client{Timeout: 10 * time.Second}
	a := startServer(t, "", "--store", "jetstream", "--nats-url", url)
	room := "chat.lobby" // a dot: a NATS token separator, escaped in the subject
	first := mustPublish(t, c, a.URL, room, "chat:message", []byte(`{"text":"one"}`))
	keyed, err := publish(c, a.URL, room, "chat:message", []byte(`{"text":"two"}`), "Idempotency-Key", "k-2")
	if err != nil || keyed.status != http.StatusCreated {
		t.Fatalf("keyed publish: %d %s %v", keyed.status, keyed.body, err)
	}
	retry, err := publish(c, a.URL, room, "chat:message", []byte(`{"text":"two"}`), "Idempotency-Key", "k-2")
	if err != nil || retry.ev.Offset != keyed.ev.Offset || retry.ev.ID != keyed.ev.ID {
		t.Fatalf("retried publish = %s (%v), want the first result %+v", retry.body, err, keyed.ev)
	}
	epoch := getHealth(t, c, a.URL).Epoch
	want := readRoom(t, c, a.URL, room)
	if len(want) != 2 || want[0].ID != first.ID {
		t.Fatalf("node A reads %v, want the 2 events published", want)
	}
	a.Stop(t)

	b := startServer(t, "", "--store", "jetstream", "--nats-url", url)
	if h := getHealth(t, c, b.URL); h.Epoch != epoch || h.Head != 2 {
		t.Fatalf("node B: epoch %q head %d, want %q and 2", h.Epoch, h.Head, epoch)
	}
	got := readRoom(t, c, b.URL, room)
	if len(got) != len(want) {
		t.Fatalf("node B reads %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID || got[i].Offset != want[i].Offset || string(got[i].Data) != string(want[i].Data) {
			t.Fatalf("node B event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if ev := mustPublish(t, c, b.URL, room, "chat:message", []byte(`{"text":"three"}`)); ev.Offset != 3 {
		t.Fatalf("node B's publish got offset %d, want 3", ev.Offset)
	}
}
