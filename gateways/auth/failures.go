package auth

import (
	"errors"
	"sync/atomic"

	"github.com/golang-jwt/jwt/v5"
)

// FailureReasons are the reasons Failures counts a refused credential
// under: none given where one is required, an expired token, a token
// whose signature does not verify, a malformed token, and anything else
// (an unknown key, a wrong issuer, a credential too long, …).
func FailureReasons() []string {
	return []string{"missing", "expired", "bad_signature", "malformed", "other"}
}

// failures counts refused credentials by reason (the index in
// FailureReasons); safe for concurrent use.
type failures struct{ n [5]atomic.Int64 }

// count counts err, if any, for the credential token.
func (f *failures) count(token string, err error) {
	if err == nil {
		return
	}
	i := 4
	switch {
	case token == "":
		i = 0
	case errors.Is(err, jwt.ErrTokenExpired):
		i = 1
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		i = 2
	case errors.Is(err, jwt.ErrTokenMalformed):
		i = 3
	}
	f.n[i].Add(1)
}

// Failures returns how many credentials Authenticate and
// AuthenticateToken refused since the start, by reason (see
// FailureReasons; every reason is present). Safe for concurrent use; for
// metrics.
func (a *Authenticator) Failures() map[string]int64 {
	out := make(map[string]int64, len(a.fails.n))
	for i, r := range FailureReasons() {
		out[r] = a.fails.n[i].Load()
	}
	return out
}
