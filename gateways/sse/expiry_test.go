package sse

import (
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
)

// TestStreamEndsAtTokenDeadline: a stream whose token expires ends at the
// deadline with a retry hint and a `: token expired` comment, even when
// events keep coming (the heartbeat timer never fires then), and even with
// a heartbeat far longer than the token's life.
func TestStreamEndsAtTokenDeadline(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			secret := []byte("sse-expiry-test-secret-0123456789")
			a, err := auth.New(auth.Config{Secrets: [][]byte{secret}, Leeway: -1})
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name string
				busy bool
			}{{name: "idle"}, {name: "busy"}} {
				t.Run(tc.name, func(t *testing.T) {
					exp := time.Now().Add(2 * time.Second).Truncate(time.Second)
					tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
						"sub": "ada", "exp": exp.Unix(), "rooms": map[string]any{"subscribe": []string{"a"}},
					}).SignedString(secret)
					if err != nil {
						t.Fatal(err)
					}
					e := newEnvOn(t, tr.h2, broker.Config{}, Config{Heartbeat: time.Hour, Auth: a})
					r := e.open(t, q("room", "a", "after", "0"), http.Header{"Authorization": {"Bearer " + tok}})
					stop := make(chan struct{})
					var wg sync.WaitGroup
					if tc.busy {
						wg.Go(func() {
							for {
								select {
								case <-stop:
									return
								case <-time.After(5 * time.Millisecond):
									e.publish(t, "a", "tick")
								}
							}
						})
					}
					var last frame
					for {
						f, err := r.next()
						if err == io.EOF {
							break
						}
						if err != nil {
							t.Fatal(err)
						}
						last = f
					}
					close(stop)
					wg.Wait()
					if now := time.Now(); now.Before(exp) || now.After(exp.Add(2*time.Second)) {
						t.Fatalf("stream ended at %v, token expired at %v", now, exp)
					}
					if !slices.Equal(last.comments, []string{"token expired"}) || last.retry == "" || last.isEvent() {
						t.Fatalf("last block = %+v, want a retry hint and `: token expired`", last)
					}
				})
			}
		})
	}
}
