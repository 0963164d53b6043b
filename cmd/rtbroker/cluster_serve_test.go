package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// TestServeEmbeddedNATS: --store jetstream without --nats-url runs a NATS
// server in the process, its files in --data: events published before a
// restart are there after it, under the same epoch, and offsets go on.
func TestServeEmbeddedNATS(t *testing.T) {
	dir := t.TempDir()
	c := &http.Client{Timeout: 10 * time.Second}
	a := startServer(t, dir, "--store", "jetstream")
	want := []wireEvent{
		mustPublish(t, c, a.URL, "lobby", "chat", []byte(`{"n":1}`)),
		mustPublish(t, c, a.URL, "lobby", "chat", []byte(`{"n":2}`)),
	}
	h := getHealth(t, c, a.URL)
	if !strings.Contains(a.logs.String(), "embedded NATS") {
		t.Errorf("the listening line does not name the embedded NATS server:\n%s", a.logs.String())
	}
	a.Stop(t)

	b := startServer(t, dir, "--nats-embedded")
	if got := getHealth(t, c, b.URL); got.Epoch != h.Epoch || got.Head != 2 {
		t.Fatalf("after restart: epoch %q head %d, want %q and 2", got.Epoch, got.Head, h.Epoch)
	}
	if d := diffEvents(readRoom(t, c, b.URL, "lobby"), want); d != "" {
		t.Fatalf("after restart: %s", d)
	}
	if ev := mustPublish(t, c, b.URL, "lobby", "chat", []byte(`{"n":3}`)); ev.Offset != 3 {
		t.Fatalf("publish after restart got offset %d, want 3", ev.Offset)
	}
}

// startSecureNATS starts a JetStream nats-server on loopback that asks
// for TLS (certFile, keyFile) and for the user u/p or the token tok.
func startSecureNATS(t *testing.T, certFile, keyFile, u, p, tok string) string {
	t.Helper()
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		TLS: true, TLSConfig: tc, TLSTimeout: 5, Username: u, Password: p, Authorization: tok,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready within 10s")
	}
	return fmt.Sprintf("tls://127.0.0.1:%d", s.Addr().(*net.TCPAddr).Port)
}

// TestServeOnJetStreamCredentials: --nats-url with TLS (--nats-ca) and a
// user/password or a token reaches a server that requires them; a wrong
// credential or an untrusted certificate stops the start with an error
// that says what failed, and never shows the secret.
func TestServeOnJetStreamCredentials(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t, t.TempDir())
	userURL := startSecureNATS(t, certFile, keyFile, "rtb", "s3cret-pass", "")
	tokenURL := startSecureNATS(t, certFile, keyFile, "", "", "s3cret-token")
	c := &http.Client{Timeout: 10 * time.Second}
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string // empty: starts and publishes
	}{
		{name: "user and password over TLS", args: []string{"--nats-url", userURL, "--nats-ca", certFile, "--nats-user", "rtb", "--nats-password", "s3cret-pass"}},
		{name: "token over TLS", args: []string{"--nats-url", tokenURL, "--nats-ca", certFile, "--nats-token", "s3cret-token"}},
		{name: "wrong password", args: []string{"--nats-url", userURL, "--nats-ca", certFile, "--nats-user", "rtb", "--nats-password", "wrong-pass"}, wantErr: "authorization"},
		{name: "untrusted certificate", args: []string{"--nats-url", tokenURL, "--nats-token", "s3cret-token"}, wantErr: "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--store", "jetstream", "--nats-start-timeout", "20s"}, tc.args...)
			if tc.wantErr == "" {
				s := startServer(t, "", args...)
				mustPublish(t, c, s.URL, "secure", "chat", []byte(`{"n":1}`))
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			logs := &lockedBuffer{}
			err := run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir()}, args...), func(string) string { return "" }, io.Discard, logs)
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), tc.wantErr) {
				t.Fatalf("start = %v, want an error mentioning %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error()+logs.String(), "s3cret") {
				t.Errorf("a secret is shown: %v\n%s", err, logs.String())
			}
		})
	}
}
