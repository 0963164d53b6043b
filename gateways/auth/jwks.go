package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWKS defaults.
const (
	DefaultJWKSRefresh     = 5 * time.Minute
	DefaultJWKSMinInterval = 10 * time.Second
	maxJWKSBody            = 1 << 20
)

// errUnknownKey is returned (wrapped) when a token names a kid that the key
// set does not hold, even after a refresh.
var errUnknownKey = errors.New("unknown key id")

// JWKSConfig configures a JWKS.
type JWKSConfig struct {
	// URL of the JSON Web Key Set (https, or http for a trusted network).
	URL string
	// Refresh is how often the set is fetched again. Default
	// DefaultJWKSRefresh.
	Refresh time.Duration
	// MinInterval is the least time between two fetches prompted by a
	// token with an unknown kid. Default DefaultJWKSMinInterval.
	MinInterval time.Duration
	// Algorithm, when set, is the only algorithm any key of the set may
	// verify (as Config.Algorithm).
	Algorithm string
	// Client fetches the set. Default: a client with a 10 s timeout.
	Client *http.Client
	// Logger receives refresh failures. Default slog.Default().
	Logger *slog.Logger
}

// JWKS is a JSON Web Key Set fetched from a URL and kept fresh: refetched
// every Refresh, and when a token names a kid the set does not hold (at
// most once per MinInterval). A failed refresh is logged and the cached
// set keeps serving. Keys are picked by kid and each verifies only the
// algorithms of its type (its `alg` when the JWK names one): RSA keys
// RS256 (or the JWK's RS*/PS* alg), EC keys the ES* of their curve,
// Ed25519 keys EdDSA; symmetric ("oct") keys and keys whose `use` is not
// "sig" are ignored. It is safe for concurrent use; Close stops its
// refresher goroutine.
type JWKS struct {
	cfg  JWKSConfig
	log  *slog.Logger
	stop context.CancelFunc
	wg   sync.WaitGroup

	fetchMu   sync.Mutex // serializes fetches; guards lastFetch
	lastFetch time.Time

	mu   sync.RWMutex // guards keys
	keys []jwkKey
}

// jwkKey is one usable key of the set.
type jwkKey struct {
	kid  string
	algs []string
	key  crypto.PublicKey
}

// NewJWKS fetches the set at cfg.URL and starts refreshing it. It fails
// (and starts nothing) when the set cannot be fetched or holds no usable
// key: the server must not start unable to verify tokens.
func NewJWKS(ctx context.Context, cfg JWKSConfig) (*JWKS, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("JWKS URL must be an absolute http or https URL")
	}
	if cfg.Algorithm != "" && !slices.Contains(asymmetricAlgorithms, cfg.Algorithm) {
		return nil, fmt.Errorf("jwt algorithm %q cannot be verified with a JWKS", cfg.Algorithm)
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultJWKSRefresh
	}
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = DefaultJWKSMinInterval
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	j := &JWKS{cfg: cfg, log: cfg.Logger}
	if err := j.fetch(ctx); err != nil {
		return nil, err
	}
	if len(j.keys) == 0 {
		return nil, fmt.Errorf("JWKS %s holds no usable signing key", j.where())
	}
	rctx, cancel := context.WithCancel(context.Background())
	j.stop = cancel
	j.wg.Go(func() { j.refresher(rctx) })
	return j, nil
}

// Close stops the refresher and waits for it. The cached keys keep
// verifying. Safe to call more than once.
func (j *JWKS) Close() {
	j.stop()
	j.wg.Wait()
}

// where names the set in errors and logs: the URL without query or
// credentials.
func (j *JWKS) where() string {
	u, err := url.Parse(j.cfg.URL)
	if err != nil {
		return "(bad URL)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

func (j *JWKS) refresher(ctx context.Context) {
	t := time.NewTicker(j.cfg.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		j.fetchMu.Lock()
		err := j.fetch(ctx)
		j.fetchMu.Unlock()
		if err != nil && ctx.Err() == nil {
			j.log.Warn("jwks: refresh failed, keeping the cached keys", "err", err)
		}
	}
}

// fetch replaces the cached keys with the set at the URL. Call with
// fetchMu held (or before the JWKS is shared).
func (j *JWKS) fetch(ctx context.Context) error {
	j.lastFetch = time.Now()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.cfg.URL, nil)
	if err != nil {
		return fmt.Errorf("fetch JWKS %s: %w", j.where(), err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := j.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch JWKS %s: %w", j.where(), errors.Unwrap(err)) // the url.Error would repeat the full URL
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch JWKS %s: HTTP status %s", j.where(), resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBody+1))
	if err != nil {
		return fmt.Errorf("fetch JWKS %s: %w", j.where(), err)
	}
	if len(body) > maxJWKSBody {
		return fmt.Errorf("fetch JWKS %s: larger than %d bytes", j.where(), maxJWKSBody)
	}
	keys, err := parseJWKS(body, j.cfg.Algorithm)
	if err != nil {
		return fmt.Errorf("JWKS %s: %w", j.where(), err)
	}
	j.mu.Lock()
	j.keys = keys
	j.mu.Unlock()
	return nil
}

// verifiers returns the keys that may verify a token signed with alg and
// naming kid ("" : every key). When kid is not in the set, the set is
// fetched again first, unless it was fetched less than MinInterval ago.
func (j *JWKS) verifiers(kid, alg string) ([]jwt.VerificationKey, error) {
	keys, known := j.lookup(kid, alg)
	if !known {
		j.fetchMu.Lock()
		if time.Since(j.lastFetch) >= j.cfg.MinInterval {
			if err := j.fetch(context.Background()); err != nil {
				j.log.Warn("jwks: refresh for an unknown kid failed, keeping the cached keys", "err", err)
			}
		}
		j.fetchMu.Unlock()
		keys, known = j.lookup(kid, alg)
		if !known {
			return nil, errUnknownKey
		}
	}
	return keys, nil
}

func (j *JWKS) lookup(kid, alg string) (keys []jwt.VerificationKey, known bool) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	for _, k := range j.keys {
		if kid != "" && k.kid != kid {
			continue
		}
		known = true
		if slices.Contains(k.algs, alg) {
			keys = append(keys, k.key)
		}
	}
	return keys, known || kid == ""
}

// asymmetricAlgorithms are the algorithms a JWKS key may verify.
var asymmetricAlgorithms = []string{"EdDSA", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"}

// jwk is the part of a JSON Web Key (RFC 7517, 7518, 8037) read here.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS parses a key set, keeping the signing keys it can use; pin,
// when set, is the only algorithm kept. A malformed set is an error; a key
// of an unknown type is skipped, a malformed key is an error.
func parseJWKS(body []byte, pin string) ([]jwkKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	var out []jwkKey
	for i, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pub, err := k.publicKey()
		if err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i, k.Kid, err)
		}
		if pub == nil {
			continue // oct or an unknown kty
		}
		algs, err := keyAlgorithms(pub)
		if err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i, k.Kid, err)
		}
		switch {
		case k.Alg != "" && !slices.Contains(algs, k.Alg):
			return nil, fmt.Errorf("key %d (kid %q): alg %q does not suit a %s key", i, k.Kid, k.Alg, k.Kty)
		case k.Alg != "":
			algs = []string{k.Alg}
		case pin != "" && slices.Contains(algs, pin):
			algs = []string{pin}
		default:
			algs = algs[:1]
		}
		if pin != "" && !slices.Contains(algs, pin) {
			continue
		}
		out = append(out, jwkKey{kid: k.Kid, algs: algs, key: pub})
	}
	return out, nil
}

// publicKey decodes k; nil, nil for key types that do not verify
// signatures here.
func (k jwk) publicKey() (crypto.PublicKey, error) {
	switch k.Kty {
	case "RSA":
		n, err1 := b64(k.N)
		e, err2 := b64(k.E)
		if err := errors.Join(err1, err2); err != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("malformed RSA n or e")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < 2048 || pub.E < 3 || pub.E%2 == 0 {
			return nil, errors.New("RSA key is shorter than 2048 bits or has a bad exponent")
		}
		return pub, nil
	case "EC":
		var c elliptic.Curve
		switch k.Crv {
		case "P-256":
			c = elliptic.P256()
		case "P-384":
			c = elliptic.P384()
		case "P-521":
			c = elliptic.P521()
		default:
			return nil, fmt.Errorf("unsupported EC curve %q", k.Crv)
		}
		x, err1 := b64(k.X)
		y, err2 := b64(k.Y)
		size := (c.Params().BitSize + 7) / 8
		if errors.Join(err1, err2) != nil || len(x) != size || len(y) != size {
			return nil, errors.New("malformed EC x or y")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(c, append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, errors.New("EC point is not on the curve")
		}
		return pub, nil
	case "OKP":
		if k.Crv != "Ed25519" {
			return nil, fmt.Errorf("unsupported OKP curve %q", k.Crv)
		}
		x, err := b64(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("malformed Ed25519 x")
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, nil
}

// b64 decodes base64url, with or without padding.
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
