package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
const DefaultLeeway = 30 * time.Second

// MaxTokenLen bounds the credentials Authenticate looks at; longer ones are
// refused before any parsing.
const MaxTokenLen = 8 << 10

// maxSubjectLen bounds a token's sub (it is stored in every event's from).
const maxSubjectLen = 256

// Config configures an Authenticator. The zero value lets everyone in
// anonymously with no permission at all; see Open for the demo setup.
type Config struct {
	// Secrets are HMAC keys; a token signed with any of them is accepted
	// (several allow rotation). They accept HS256 unless Algorithm pins
	// HS384 or HS512.
	Secrets [][]byte
	// PublicKeys verify asymmetrically signed tokens; see ParsePublicKey.
	// An RSA key accepts RS256 unless Algorithm pins another RS* or PS*
	// algorithm; an ECDSA key accepts the ES* algorithm of its curve; an
	// Ed25519 key accepts EdDSA.
	PublicKeys []crypto.PublicKey
	// JWKS, when set, also verifies asymmetrically signed tokens, with the
	// key the token's kid names (see JWKS). The caller owns it (Close).
	JWKS *JWKS
	// Algorithm, when set, is the only algorithm accepted; it must suit
	// one of the configured keys.
	Algorithm string
	// Leeway is the clock skew allowed on exp, nbf and iat. Zero means
	// DefaultLeeway; negative means none.
	Leeway time.Duration
	// Issuer and Audience, when set, must be the token's iss and one of
	// its aud.
	Issuer   string
	Audience string
	// APIKeys are server-to-server keys, each granting every permission on
	// every room and the operator endpoints (Admin), with `from`
	// APISubject.
	APIKeys []string
	// Keys are more server-to-server keys: named (`from` "api:<name>"),
	// scoped to some rooms and actions, or kept as digests (see APIKey).
	// No two keys, here or in APIKeys, may be the same.
	Keys []APIKey
	// UserPermissions are added to the permissions of every identity
	// authenticated by a token, on top of its `rooms` claim ({sub} is the
	// token's subject).
	UserPermissions Permissions
	// RolePermissions are added to the permissions of every token
	// identity that holds the role (see Identity.Roles).
	RolePermissions map[string]Permissions
	// AdminRole, when set, makes every token identity that holds the
	// role Admin: allowed the operator endpoints (the admin API, the
	// backup, /metrics) as an admin API key is. Empty: no token is Admin.
	AdminRole string
	// Anonymous lets clients without a credential in, with
	// AnonymousPermissions. A credential that is presented must be valid
	// either way.
	Anonymous            bool
	AnonymousPermissions Permissions
	// Now is the clock; default time.Now (tests set it).
	Now func() time.Time
}

// Authenticator turns credentials into identities. It is immutable after
// New and safe for concurrent use.
type Authenticator struct {
	cfg     Config
	keys    map[string][]jwt.VerificationKey // algorithm → the keys that verify it
	methods []string                         // accepted algorithms, sorted
	// jwksMethods are the algorithms offered to cfg.JWKS, whose keys
	// each accept only those of their type.
	jwksMethods []string
	apiKeys     []apiKey
	parser      *jwt.Parser

	fails failures // refused credentials by reason, for Failures
}

// Open returns an Authenticator with no keys that lets everyone in
// anonymously, allowed everything: the demo setup, and what gateways use
// when given no Authenticator.
func Open() *Authenticator {
	a, _ := New(Config{Anonymous: true, AnonymousPermissions: All()})
	return a
}

// New returns an Authenticator for cfg. It fails when Algorithm is not a
// supported algorithm or suits none of the keys ("none" is never
// supported), or when a key is empty or of an unsupported type.
func New(cfg Config) (*Authenticator, error) {
	a := &Authenticator{cfg: cfg, keys: make(map[string][]jwt.VerificationKey)}
	if a.cfg.Leeway == 0 {
		a.cfg.Leeway = DefaultLeeway
	} else if a.cfg.Leeway < 0 {
		a.cfg.Leeway = 0
	}
	if a.cfg.Now == nil {
		a.cfg.Now = time.Now
	}
	pin := cfg.Algorithm
	if pin != "" && jwt.GetSigningMethod(pin) == nil || pin == "none" {
		return nil, fmt.Errorf("jwt algorithm %q is not supported", pin)
	}
	for _, s := range cfg.Secrets {
		if len(s) == 0 {
			return nil, errors.New("jwt secret is empty")
		}
		alg := "HS256"
		if strings.HasPrefix(pin, "HS") {
			alg = pin
		}
		a.keys[alg] = append(a.keys[alg], s)
	}
	for _, k := range cfg.PublicKeys {
		algs, err := keyAlgorithms(k)
		if err != nil {
			return nil, err
		}
		alg := algs[0]
		if slices.Contains(algs, pin) {
			alg = pin
		}
		a.keys[alg] = append(a.keys[alg], k)
	}
	if cfg.JWKS != nil {
		for _, alg := range asymmetricAlgorithms {
			if pin == "" || pin == alg {
				a.jwksMethods = append(a.jwksMethods, alg)
			}
		}
	}
	if pin != "" {
		if len(a.keys[pin]) == 0 && len(a.jwksMethods) == 0 {
			return nil, fmt.Errorf("jwt algorithm %s does not suit the configured keys", pin)
		}
		a.keys = map[string][]jwt.VerificationKey{pin: a.keys[pin]}
	}
	for alg := range a.keys {
		a.methods = append(a.methods, alg)
	}
	for _, alg := range a.jwksMethods {
		if !slices.Contains(a.methods, alg) {
			a.methods = append(a.methods, alg)
		}
	}
	slices.Sort(a.methods)
	keys := make([]APIKey, 0, len(cfg.APIKeys)+len(cfg.Keys))
	for _, k := range cfg.APIKeys {
		keys = append(keys, APIKey{Key: k, Admin: true})
	}
	keys = append(keys, cfg.Keys...)
	for i, k := range keys {
		ak, err := newAPIKey(i, k)
		if err != nil {
			return nil, err
		}
		for j, other := range a.apiKeys {
			if other.hash == ak.hash {
				return nil, fmt.Errorf("API keys #%d and #%d are the same key", j+1, i+1)
			}
		}
		a.apiKeys = append(a.apiKeys, ak)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(a.methods),
		jwt.WithLeeway(a.cfg.Leeway),
		jwt.WithTimeFunc(a.cfg.Now),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithStrictDecoding(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	a.parser = jwt.NewParser(opts...)
	return a, nil
}

// keyAlgorithms returns the algorithms a public key can verify, the
// default first.
func keyAlgorithms(k crypto.PublicKey) ([]string, error) {
	switch k := k.(type) {
	case *rsa.PublicKey:
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}, nil
		case elliptic.P384():
			return []string{"ES384"}, nil
		case elliptic.P521():
			return []string{"ES512"}, nil
		}
		return nil, errors.New("ECDSA key on an unsupported curve")
	case ed25519.PublicKey:
		return []string{"EdDSA"}, nil
	}
	return nil, fmt.Errorf("unsupported public key type %T", k)
}

// ParsePublicKey parses a PEM public key (PKIX "PUBLIC KEY", PKCS#1 "RSA
// PUBLIC KEY", or the key of a "CERTIFICATE"): RSA, ECDSA or Ed25519.
func ParsePublicKey(pemBytes []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var k any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		k, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		k, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(block.Bytes); err == nil {
			k = c.PublicKey
		}
	default:
		return nil, fmt.Errorf("PEM block %q is not a public key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	if _, err := keyAlgorithms(k); err != nil {
		return nil, err
	}
	return k, nil
}

// Algorithms returns the accepted signing algorithms, sorted (empty when
// no key is configured: then no token is accepted).
func (a *Authenticator) Algorithms() []string { return slices.Clone(a.methods) }

// Configured reports whether any key, secret or API key is configured.
func (a *Authenticator) Configured() bool { return len(a.methods) > 0 || len(a.apiKeys) > 0 }

// Deadline returns the moment id's token stops being accepted: its exp
// plus the leeway. It is zero for identities that do not expire (API keys,
// anonymous clients). Connections that outlive their token are ended then.
func (a *Authenticator) Deadline(id Identity) time.Time {
	if id.Expires.IsZero() {
		return time.Time{}
	}
	return id.Expires.Add(a.cfg.Leeway)
}

// AllowsAnonymous reports whether clients without a credential are let in.
func (a *Authenticator) AllowsAnonymous() bool { return a.cfg.Anonymous }

// Anonymous returns a new anonymous identity (a fresh random id) with the
// anonymous permissions, or an error wrapping ErrUnauthorized when
// anonymous access is off.
func (a *Authenticator) Anonymous() (Identity, error) {
	if !a.cfg.Anonymous {
		return Identity{}, fmt.Errorf("%w: a token is required", ErrUnauthorized)
	}
	// The subject is built in place: one allocation (the string).
	var b [6]byte
	rand.Read(b[:])
	var s [len(AnonymousPrefix) + 2*len(b)]byte
	copy(s[:], AnonymousPrefix)
	hex.Encode(s[len(AnonymousPrefix):], b[:])
	return Identity{Subject: string(s[:]), Anonymous: true, Rooms: &a.cfg.AnonymousPermissions}, nil
}

// Authenticate returns the identity of a credential: an API key or a
// signed token. An empty credential is anonymous (see Anonymous). Errors
// wrap ErrUnauthorized and never contain the credential.
func (a *Authenticator) Authenticate(token string) (Identity, error) {
	id, err := a.authenticate(token)
	a.fails.count(token, err)
	return id, err
}

func (a *Authenticator) authenticate(token string) (Identity, error) {
	if token == "" {
		return a.Anonymous()
	}
	if len(token) > MaxTokenLen {
		return Identity{}, fmt.Errorf("%w: credential too long", ErrUnauthorized)
	}
	if id, ok := a.apiKey(token); ok {
		return id, nil
	}
	return a.authenticateJWT(token)
}

// AuthenticateToken is Authenticate for credentials found where a browser
// may send or leak them without the page's say (a cookie, the URL's
// query): it accepts a signed token or nothing (anonymous), never an API
// key. An API key presented this way is refused as a token that does not
// verify; errors wrap ErrUnauthorized and never contain the credential.
func (a *Authenticator) AuthenticateToken(token string) (Identity, error) {
	id, err := a.authenticateToken(token)
	a.fails.count(token, err)
	return id, err
}

func (a *Authenticator) authenticateToken(token string) (Identity, error) {
	if token == "" {
		return a.Anonymous()
	}
	if len(token) > MaxTokenLen {
		return Identity{}, fmt.Errorf("%w: credential too long", ErrUnauthorized)
	}
	if _, ok := a.apiKey(token); ok {
		return Identity{}, fmt.Errorf("%w: token is malformed (API keys are only accepted in the Authorization or X-API-Key header)", ErrUnauthorized)
	}
	return a.authenticateJWT(token)
}

// authenticateJWT verifies a signed token.
func (a *Authenticator) authenticateJWT(token string) (Identity, error) {
	if len(a.methods) == 0 {
		return Identity{}, fmt.Errorf("%w: unknown credential", ErrUnauthorized)
	}
	var c claims
	if _, err := a.parser.ParseWithClaims(token, &c, a.keyFunc); err != nil {
		return Identity{}, fmt.Errorf("%w: %s%.0w", ErrUnauthorized, reason(err), err) // err wrapped unprinted: Failures tells its reason
	}
	if err := validSubject(c.Subject); err != nil {
		return Identity{}, err
	}
	id := Identity{Subject: c.Subject, Roles: roles(c.Roles, c.Role)}
	id.Admin = a.cfg.AdminRole != "" && id.HasRole(a.cfg.AdminRole)
	id.Rooms = a.userPermissions(c.Rooms.Permissions(), id.Roles)
	if c.ExpiresAt != nil {
		id.Expires = c.ExpiresAt.Time
	}
	return id, nil
}

// userPermissions returns a token's permissions: its rooms claim, the
// permissions of every token holder, and those of its roles.
func (a *Authenticator) userPermissions(claim Permissions, roles []string) *Permissions {
	p := claim.Add(a.cfg.UserPermissions)
	for _, r := range roles {
		if rp, ok := a.cfg.RolePermissions[r]; ok {
			p = p.Add(rp)
		}
	}
	return &p
}

// apiKey returns the identity of the API key token is, comparing its
// digest with every key's in constant time (the time taken does not tell
// which key, if any, matched).
func (a *Authenticator) apiKey(token string) (Identity, bool) {
	if len(a.apiKeys) == 0 {
		return Identity{}, false
	}
	h := sha256.Sum256([]byte(token))
	found, idx := 0, 0
	for i := range a.apiKeys {
		eq := subtle.ConstantTimeCompare(h[:], a.apiKeys[i].hash[:])
		idx = subtle.ConstantTimeSelect(eq, i, idx)
		found |= eq
	}
	if found != 1 {
		return Identity{}, false
	}
	return a.apiKeys[idx].id, true
}

// keyFunc picks the keys of the token's algorithm; the parser has already
// refused algorithms that are not configured.
func (a *Authenticator) keyFunc(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errCritHeader
	}
	alg := t.Method.Alg()
	keys := a.keys[alg]
	if a.cfg.JWKS != nil && slices.Contains(a.jwksMethods, alg) {
		kid, _ := t.Header["kid"].(string)
		more, err := a.cfg.JWKS.verifiers(kid, alg)
		if err != nil && len(keys) == 0 {
			return nil, err
		}
		keys = append(slices.Clip(keys), more...)
	}
	if len(keys) == 0 {
		return nil, jwt.ErrTokenUnverifiable
	}
	return jwt.VerificationKeySet{Keys: keys}, nil
}

func validSubject(sub string) error {
	switch {
	case sub == "":
		return fmt.Errorf("%w: token has no sub", ErrUnauthorized)
	case len(sub) > maxSubjectLen:
		return fmt.Errorf("%w: token sub is longer than %d bytes", ErrUnauthorized, maxSubjectLen)
	case reservedSubject(sub):
		return fmt.Errorf("%w: token sub is reserved", ErrUnauthorized)
	case strings.TrimSpace(sub) != sub:
		return fmt.Errorf("%w: token sub has leading or trailing space", ErrUnauthorized)
	case strings.ContainsAny(sub, "*{}"):
		return fmt.Errorf("%w: token sub contains * { or }", ErrUnauthorized)
	}
	for _, r := range sub {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: token sub contains control characters", ErrUnauthorized)
		}
	}
	return nil
}

// reservedSubject reports whether sub is, or could pass for, a subject
// the server gives (an API key's, an anonymous client's): compared
// without case and surrounding space, so that "API" or "api " cannot
// publish as from the API.
func reservedSubject(sub string) bool {
	n := strings.ToLower(strings.TrimSpace(sub))
	return n == APISubject || strings.HasPrefix(n, APISubject+":") || strings.HasPrefix(n, AnonymousPrefix)
}

// errCritHeader refuses a token with a crit header: it names extensions
// the token's meaning depends on, and rtbroker understands none (RFC 7515
// section 4.1.11).
var errCritHeader = errors.New("crit header")

// errNumericDate refuses a token whose exp, nbf or iat is not a JSON
// number (RFC 7519 NumericDate): a string is not a date.
var errNumericDate = errors.New("date claim is not a number")

// reason maps a jwt error to a short text for the client. It is built from
// fixed strings only: never the token, never a key.
func reason(err error) string {
	for _, r := range [...]struct {
		err  error
		text string
	}{
		{errNumericDate, "token exp, nbf and iat must be numbers"},
		{errCritHeader, "token has a crit header (no extension is supported)"},
		{jwt.ErrTokenExpired, "token has expired"},
		{jwt.ErrTokenNotValidYet, "token is not valid yet"},
		{jwt.ErrTokenUsedBeforeIssued, "token is issued in the future"},
		{jwt.ErrTokenInvalidIssuer, "token has the wrong issuer"},
		{jwt.ErrTokenInvalidAudience, "token has the wrong audience"},
		{jwt.ErrTokenRequiredClaimMissing, "token is missing a required claim (exp)"},
		{jwt.ErrTokenSignatureInvalid, "token signature is invalid"},
		{jwt.ErrTokenMalformed, "token is malformed"},
		{errUnknownKey, "token key id (kid) is unknown"},

		{jwt.ErrTokenUnverifiable, "token algorithm is not accepted"},
		{jwt.ErrTokenInvalidClaims, "token claims are invalid"},
	} {
		if errors.Is(err, r.err) {
			return r.text
		}
	}
	return "token is invalid"
}

// claims are the token claims rtbroker reads. Roles come from `roles`
// (an array of strings, or one string) and `role` (one string, or an
// array), united.
type claims struct {
	jwt.RegisteredClaims
	Rooms Rooms      `json:"rooms"`
	Roles stringList `json:"roles"`
	Role  stringList `json:"role"`
}

// UnmarshalJSON decodes the claims, refusing dates that are not JSON
// numbers (the jwt library also takes "exp":"1700000000").
func (c *claims) UnmarshalJSON(b []byte) error {
	var dates struct {
		Exp, Nbf, Iat json.RawMessage
	}
	if err := json.Unmarshal(b, &dates); err != nil {
		return err
	}
	for _, d := range [...]json.RawMessage{dates.Exp, dates.Nbf, dates.Iat} {
		if len(d) > 0 && (d[0] == '"' || d[0] == '{' || d[0] == '[' || d[0] == 't' || d[0] == 'f') {
			return errNumericDate
		}
	}
	type plain claims // without this method
	return json.Unmarshal(b, (*plain)(c))
}
