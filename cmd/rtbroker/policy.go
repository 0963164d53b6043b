package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/socketio"
)

// policyFile is the JSON document --policy names. Unknown fields are a
// startup error. Room lists are auth.Rooms: subscribe, publish, history
// and presence patterns, history and presence defaulting to subscribe.
type policyFile struct {
	// Users are added to every token holder's rooms claim.
	Users *auth.Rooms `json:"users"`
	// Anonymous replaces the --anonymous-* defaults.
	Anonymous *auth.Rooms `json:"anonymous"`
	// Namespaces are Socket.IO namespaces, served even when
	// --sio-namespaces does not list them.
	Namespaces map[string]namespacePolicy `json:"namespaces"`
	// APIKeys are named and/or scoped server-to-server keys, beside the
	// unscoped --api-key ones.
	APIKeys []apiKeyPolicy `json:"api_keys"`
	// AutoJoin is namespace "/"'s auto_join.
	AutoJoin []string `json:"auto_join"`
}

// namespacePolicy configures one Socket.IO namespace. Its patterns and
// rooms are relative to the namespace: "room-*" in /admin is the log
// rooms "admin:room-*".
type namespacePolicy struct {
	// Role, when set, is required to connect (a token's roles or role
	// claim); Users then go to the holders of the role only.
	Role string `json:"role"`
	// Users are added to every token holder's permissions (with Role: to
	// those with the role), on every transport.
	Users *auth.Rooms `json:"users"`
	// Anonymous are added to the anonymous permissions (not with Role).
	Anonymous *auth.Rooms `json:"anonymous"`
	// AutoJoin rooms are joined by every socket with a token at connect.
	AutoJoin []string `json:"auto_join"`
}

// apiKeyPolicy is one server-to-server key.
type apiKeyPolicy struct {
	// Name makes the key's `from` "api:<name>"; without it, "api".
	Name string `json:"name"`
	// Key is the secret, or KeySHA256 its SHA-256 in hex (so that the file
	// holds no secret). Exactly one.
	Key       string `json:"key"`
	KeySHA256 string `json:"key_sha256"`
	// Rooms, when present, limits the key to these permissions; absent,
	// the key may do everything in every room.
	Rooms *auth.Rooms `json:"rooms"`
	// Admin allows GET /api/backup; default true without Rooms, false with.
	Admin *bool `json:"admin"`
}

// policy is the authorization policy from --policy and the flags, checked.
type policy struct {
	users      auth.Permissions
	anonymous  auth.Permissions
	roles      map[string]auth.Permissions
	keys       []auth.APIKey
	namespaces []socketio.NamespaceConfig
	anonInFile bool // the file sets anonymous permissions (a warning when anonymous access is off)
}

// loadPolicy reads --policy (once) and combines it with the flags. A
// setting given both by a flag (or its environment variable) and by the
// file is an error, except API keys: --api-key keys are kept beside the
// file's api_keys.
func (c *config) loadPolicy() (*policy, error) {
	if c.pol != nil {
		return c.pol, nil
	}
	var f policyFile
	if c.Policy != "" {
		b, err := os.ReadFile(c.Policy)
		if err != nil {
			return nil, fmt.Errorf("--policy: %w", err)
		}
		if err := decodePolicy(b, &f); err != nil {
			return nil, fmt.Errorf("--policy %s: %w", c.Policy, err)
		}
	}
	p, err := c.buildPolicy(&f)
	if err != nil {
		if c.Policy != "" {
			return nil, fmt.Errorf("--policy %s: %w", c.Policy, err)
		}
		return nil, err
	}
	c.pol = p
	return p, nil
}

// decodePolicy decodes one JSON object, refusing unknown fields and
// anything after it.
func decodePolicy(b []byte, f *policyFile) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(f); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

// buildPolicy checks f and combines it with the flags.
func (c *config) buildPolicy(f *policyFile) (*policy, error) {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	both := func(section string, flags ...string) bool {
		for _, fl := range flags {
			if c.explicit[fl] {
				fail("%q in the policy file and --%s set the same thing: use one", section, fl)
				return true
			}
		}
		return false
	}
	p := &policy{roles: map[string]auth.Permissions{}}

	p.users = auth.Permissions{Subscribe: c.UserSubscribe, History: c.UserSubscribe, Presence: c.UserSubscribe, Publish: c.UserPublish}
	if f.Users != nil && !both("users", "user-subscribe", "user-publish") {
		p.users = f.Users.Permissions()
	}
	errs = append(errs, checkPatterns("users", "", p.users)...)
	p.anonymous = auth.Permissions{Subscribe: c.AnonymousSubscribe, History: c.AnonymousSubscribe, Presence: c.AnonymousSubscribe, Publish: c.AnonymousPublish}
	if f.Anonymous != nil && !both("anonymous", "anonymous-subscribe", "anonymous-publish") {
		p.anonymous, p.anonInFile = f.Anonymous.Permissions(), true
	}
	errs = append(errs, checkPatterns("anonymous", "", p.anonymous)...)

	rootAuto := c.AutoJoin
	if f.AutoJoin != nil && !both("auto_join", "auto-join") {
		rootAuto = f.AutoJoin
	}
	if np, ok := f.Namespaces["/"]; ok && np.AutoJoin != nil && (f.AutoJoin != nil || c.explicit["auto-join"]) {
		fail(`namespace "/": auto_join is also set by the top-level auto_join or --auto-join: use one`)
	}
	names := slices.Clone(c.SIONamespaces)
	for _, n := range slices.Sorted(maps.Keys(f.Namespaces)) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(rootAuto) > 0 && !slices.Contains(names, "/") {
		fail("auto-join rooms are for the namespace /, which is not served (--sio-namespaces)")
	}
	for _, n := range names {
		np := f.Namespaces[n]
		nc := socketio.NamespaceConfig{Name: n, Role: np.Role, AutoJoin: np.AutoJoin}
		where := fmt.Sprintf("namespace %q", n)
		if !strings.HasPrefix(n, "/") {
			fail("%s: a namespace starts with /", where)
			continue
		}
		if n == "/" && nc.AutoJoin == nil {
			nc.AutoJoin = rootAuto
		}
		prefix := nc.LogPrefix()
		if np.Users != nil {
			perms := np.Users.Permissions().Prefixed(prefix)
			errs = append(errs, checkPatterns(where+" users", prefix, perms)...)
			if nc.Role != "" {
				p.roles[nc.Role] = p.roles[nc.Role].Add(perms)
			} else {
				p.users = p.users.Add(perms)
			}
		}
		if np.Anonymous != nil {
			if nc.Role != "" {
				fail("%s: anonymous permissions in a namespace that needs a role are never used", where)
			}
			perms := np.Anonymous.Permissions().Prefixed(prefix)
			errs = append(errs, checkPatterns(where+" anonymous", prefix, perms)...)
			p.anonymous = p.anonymous.Add(perms)
		}
		for _, r := range nc.AutoJoin {
			if err := checkAutoJoin(r, prefix); err != nil {
				fail("%s auto_join: %v", where, err)
			}
		}
		p.namespaces = append(p.namespaces, nc)
	}

	for i, k := range f.APIKeys {
		ak, err := apiKey(k)
		if err != nil {
			fail("api_keys[%d]: %v", i, err)
			continue
		}
		if ak.Rooms != nil {
			errs = append(errs, checkPatterns(fmt.Sprintf("api_keys[%d] rooms", i), "", *ak.Rooms)...)
		}
		p.keys = append(p.keys, ak)
	}
	return p, errors.Join(errs...)
}

// apiKey turns one api_keys entry into an auth.APIKey. Errors never
// contain the key.
func apiKey(k apiKeyPolicy) (auth.APIKey, error) {
	ak := auth.APIKey{Name: k.Name, Key: k.Key, Admin: k.Rooms == nil}
	if k.Name != "" {
		if err := auth.ValidKeyName(k.Name); err != nil {
			return ak, err
		}
	}
	switch {
	case k.Key != "" && k.KeySHA256 != "":
		return ak, errors.New(`give "key" or "key_sha256", not both`)
	case k.KeySHA256 != "":
		h, err := hex.DecodeString(k.KeySHA256)
		if err != nil || len(h) != 32 {
			return ak, errors.New(`"key_sha256" must be 64 hex digits (sha256sum of the key)`)
		}
		ak.Hash = h
	case k.Key == "":
		return ak, errors.New(`needs "key" or "key_sha256"`)
	}
	if k.Rooms != nil {
		perms := k.Rooms.Permissions()
		ak.Rooms = &perms
	}
	if k.Admin != nil {
		ak.Admin = *k.Admin
	}
	return ak, nil
}

// checkPatterns checks that every pattern of p (prefix is the namespace's,
// already put before them) is a room name in which `*` and `{sub}` stand
// for characters: a pattern that can never match is a mistake.
func checkPatterns(where, prefix string, p auth.Permissions) []error {
	var errs []error
	for _, list := range [][]string{p.Subscribe, p.Publish, p.History, p.Presence} {
		for _, pat := range list {
			rel := strings.TrimPrefix(pat, prefix)
			sample := strings.ReplaceAll(strings.ReplaceAll(pat, "{sub}", "x"), "*", "x")
			var err error
			switch {
			case rel == "":
				err = errors.New("empty pattern")
			case strings.ContainsAny(sample, "{}"):
				err = errors.New("only {sub} may appear between braces")
			default:
				err = broker.ValidateRoom(sample)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: pattern %q: %w", where, rel, err))
			}
		}
	}
	return errs
}

// checkAutoJoin checks an auto-join room: a room name of the namespace in
// which {sub} may stand for the subject; no wildcard.
func checkAutoJoin(room, prefix string) error {
	if strings.Contains(room, "*") {
		return fmt.Errorf("%q: auto-join rooms cannot hold *", room)
	}
	sample := strings.ReplaceAll(room, "{sub}", "x")
	if strings.ContainsAny(sample, "{}") {
		return fmt.Errorf("%q: only {sub} may appear between braces", room)
	}
	if err := broker.ValidatePublicRoom(sample); err != nil {
		return fmt.Errorf("%q: %w", room, err)
	}
	return broker.ValidateRoom(prefix + sample)
}

// sioNamespaces returns the Socket.IO namespaces to serve: those of
// --sio-namespaces, then the policy's, with their roles and auto-join
// rooms.
func (c *config) sioNamespaces() ([]socketio.NamespaceConfig, error) {
	p, err := c.loadPolicy()
	if err != nil {
		return nil, err
	}
	return p.namespaces, nil
}
