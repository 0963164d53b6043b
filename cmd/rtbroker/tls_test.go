package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/gateways/socketio/socketiotest"
)

// selfSigned writes a self-signed ECDSA certificate for 127.0.0.1 and
// localhost, and its key, as PEM files in dir. It returns their paths and
// a pool trusting the certificate.
func selfSigned(t testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rtbroker test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// h2Client trusts pool and speaks HTTP/2 over TLS.
func h2Client(pool *x509.CertPool) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
	}}
}

func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	s := startServer(t, "", "--tls-cert", certFile, "--tls-key", keyFile)
	// The line reaches s.logs just after startServer has parsed it.
	for i := 0; i < 100 && !strings.Contains(s.logs.String(), "url=https://"); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(s.logs.String(), "url=https://") {
		t.Fatalf("listening line has no https URL:\n%s", s.logs.String())
	}
	base := "https://" + strings.TrimPrefix(s.URL, "http://")
	c := h2Client(pool)
	c.Timeout = 30 * time.Second

	// Plain HTTP on the TLS port gets nowhere.
	if resp, err := newClient().Get(s.URL + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("plain HTTP on the TLS port answered 200")
		}
	}

	ev := mustPublish(t, c, base, "general", "chat:message", []byte(`{"text":"over h2"}`))
	resp, err := c.Get(base + "/api/rooms/general/events?after=0")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("history answered over %s, want HTTP/2", resp.Proto)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), ev.ID) {
		t.Fatalf("history: status %d body %s, want event %s", resp.StatusCode, body, ev.ID)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := openSSE(ctx, h2Client(pool), base+"/sse?room=general&after=0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	if st.resp.ProtoMajor != 2 {
		t.Fatalf("SSE stream over %s, want HTTP/2", st.resp.Proto)
	}
	expectSSE(t, st, []wireEvent{ev})
	// A live event arrives on the open HTTP/2 stream.
	live := mustPublish(t, c, base, "general", "chat:message", []byte(`{"text":"live"}`))
	expectSSE(t, st, []wireEvent{live})
}

func TestTLSFlagErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	otherDir := t.TempDir()
	_, otherKey, _ := selfSigned(t, otherDir)
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{name: "cert without key", args: []string{"--tls-cert", certFile}, wantErr: "--tls-cert and --tls-key go together"},
		{name: "key without cert", args: []string{"--tls-key", keyFile}, wantErr: "--tls-cert and --tls-key go together"},
		{name: "env cert without key", env: map[string]string{"RTBROKER_TLS_CERT": certFile}, wantErr: "--tls-cert and --tls-key go together"},
		{name: "missing cert file", args: []string{"--tls-cert", filepath.Join(dir, "nope.pem"), "--tls-key", keyFile}, wantErr: "nope.pem"},
		{name: "cert not PEM", args: []string{"--tls-cert", garbage, "--tls-key", keyFile}, wantErr: "--tls-cert " + garbage},
		{name: "key of another cert", args: []string{"--tls-cert", certFile, "--tls-key", otherKey}, wantErr: "private key does not match public key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir()}, tc.args...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, args, func(k string) string { return tc.env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

// TestTLSSocketIO: the real socket.io-client (Node, trusting the test's
// certificate through NODE_EXTRA_CA_CERTS) connects over HTTPS and WSS —
// WebSocket only, polling only, and polling upgraded to WebSocket — joins
// a room, publishes, and receives its own event and one published over
// REST on HTTP/2.
func TestTLSSocketIO(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	s := startServer(t, "", "--tls-cert", certFile, "--tls-key", keyFile)
	base := "https://" + strings.TrimPrefix(s.URL, "http://")
	d := socketiotest.Start(t, "NODE_EXTRA_CA_CERTS="+certFile)
	c := h2Client(pool)
	c.Timeout = 30 * time.Second
	tests := []struct {
		name          string
		transports    []string
		wantTransport string
	}{
		{name: "websocket", transports: []string{"websocket"}, wantTransport: "websocket"},
		{name: "polling", transports: []string{"polling"}, wantTransport: "polling"},
		{name: "polling upgraded to websocket", transports: []string{"polling", "websocket"}, wantTransport: "websocket"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name, room := fmt.Sprint("tls", i), fmt.Sprint("tls-", i)
			got := d.Do("connect", map[string]any{"name": name, "url": base, "opts": map[string]any{"transports": tc.transports}})["transport"]
			defer d.Try("disconnect", map[string]any{"name": name})
			if tc.wantTransport == "websocket" {
				got = d.Do("waitUpgrade", map[string]any{"name": name})["transport"]
			}
			if got != tc.wantTransport {
				t.Fatalf("transport %v, want %s", got, tc.wantTransport)
			}
			if ack := socketiotest.Ack(t, d.Do("emit", map[string]any{"name": name, "event": "room:join", "args": []any{map[string]any{"room": room}}, "ack": true})); ack["ok"] != true {
				t.Fatalf("join over TLS: %v", ack)
			}
			if ack := socketiotest.Ack(t, d.Do("emit", map[string]any{"name": name, "event": "chat:message", "args": []any{map[string]any{"room": room, "via": "socket.io"}}, "ack": true})); ack["ok"] != true {
				t.Fatalf("publish over TLS: %v", ack)
			}
			rest := mustPublish(t, c, base, room, "chat:message", []byte(`{"via":"rest"}`))
			evs := d.WaitEvents(name, 2)
			if string(evs[0].Args[0]) != `{"via":"socket.io"}` || string(evs[1].Args[0]) != `{"via":"rest"}` || !strings.Contains(string(evs[1].Args[1]), rest.ID) {
				t.Fatalf("received %v", evs)
			}
		})
	}
}
