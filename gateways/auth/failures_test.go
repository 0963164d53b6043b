package auth_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtbroker/rtbroker/gateways/auth"
)

// TestFailures: each refused credential is counted under its reason, and
// an accepted one is not counted.
func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		name, token, reason string
	}{
		{"missing on a server without anonymous access", "", "missing"},
		{"expired", sign(t, jwt.SigningMethodHS256, secret, claims("ada", func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })), "expired"},
		{"signed with another key", sign(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef0"), claims("ada", nil)), "bad_signature"},
		{"malformed", "a.b.c", "malformed"},
		{"accepted", sign(t, jwt.SigningMethodHS256, secret, claims("ada", nil)), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAuth(t, auth.Config{Secrets: [][]byte{secret}})
			_, err := a.Authenticate(tc.token)
			if (err == nil) != (tc.reason == "") {
				t.Fatalf("Authenticate: %v", err)
			}
			for reason, n := range a.Failures() {
				if want := map[bool]int64{true: 1}[reason == tc.reason]; n != want {
					t.Errorf("Failures()[%q] = %d, want %d", reason, n, want)
				}
			}
			if len(a.Failures()) != len(auth.FailureReasons()) {
				t.Errorf("Failures() has %d reasons, want %d", len(a.Failures()), len(auth.FailureReasons()))
			}
		})
	}
}
