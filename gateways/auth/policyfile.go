package auth

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/rtbroker/rtbroker/broker"
)

// PolicyFile is the authorization policy document (rtbroker serve
// --policy FILE; see the README). Room lists are Rooms: subscribe,
// publish, history and presence patterns, history and presence defaulting
// to subscribe.
type PolicyFile struct {
	// Users are added to every token holder's rooms claim.
	Users *Rooms `json:"users"`
	// Anonymous replaces the --anonymous-* defaults.
	Anonymous *Rooms `json:"anonymous"`
	// Namespaces are Socket.IO namespaces, served even when
	// --sio-namespaces does not list them.
	Namespaces map[string]NamespacePolicy `json:"namespaces"`
	// APIKeys are named and/or scoped server-to-server keys, beside the
	// unscoped --api-key ones.
	APIKeys []APIKeyPolicy `json:"api_keys"`
	// AutoJoin is namespace "/"'s auto_join.
	AutoJoin []string `json:"auto_join"`
	// ModeratorRole is the role whose holders may edit and delete any
	// message in the rooms they may publish to (the --moderator-role
	// shortcut).
	ModeratorRole string `json:"moderator_role"`
	// RetentionRules are per-room retention rules, "PATTERN=AGE[/COUNT]"
	// each, first match wins (the --retention-rules shortcut, one rule per
	// item). MergePolicy passes them on; the command checks and applies
	// them.
	RetentionRules []string `json:"retention_rules"`
}

// NamespacePolicy configures one Socket.IO namespace in a PolicyFile. Its
// patterns and rooms are relative to the namespace: "room-*" in /admin is
// the log rooms "admin:room-*".
type NamespacePolicy struct {
	// Role, when set, is required to connect (a token's roles or role
	// claim); Users then go to the holders of the role only.
	Role string `json:"role"`
	// Users are added to every token holder's permissions (with Role: to
	// those with the role), on every transport.
	Users *Rooms `json:"users"`
	// Anonymous are added to the anonymous permissions (not with Role).
	Anonymous *Rooms `json:"anonymous"`
	// AutoJoin rooms are joined by every socket with a token at connect.
	AutoJoin []string `json:"auto_join"`
}

// APIKeyPolicy is one server-to-server key of a PolicyFile.
type APIKeyPolicy struct {
	// Name makes the key's `from` "api:<name>"; without it, "api".
	Name string `json:"name"`
	// Key is the secret, or KeySHA256 its SHA-256 in hex (so that the file
	// holds no secret). Exactly one.
	Key       string `json:"key"`
	KeySHA256 string `json:"key_sha256"`
	// Rooms, when present, limits the key to these permissions; absent,
	// the key may do everything in every room.
	Rooms *Rooms `json:"rooms"`
	// Admin allows GET /api/backup; default true without Rooms, false with.
	Admin *bool `json:"admin"`
}

// ParsePolicyFile decodes a PolicyFile: one JSON object, with no unknown
// field (at any depth) and nothing after it. The errors are encoding/json's
// and do not name the file.
func ParsePolicyFile(b []byte) (*PolicyFile, error) {
	f := &PolicyFile{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(f); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON object")
	}
	return f, nil
}

// PolicyFlags are the settings a PolicyFile is merged with: rtbroker
// serve's shortcut flags for parts of the policy, the anonymous defaults
// and the namespaces served. Errors name these flags.
type PolicyFlags struct {
	UserSubscribe      []string // --user-subscribe: patterns every token holder may subscribe to (and read)
	UserPublish        []string // --user-publish: patterns every token holder may publish to
	AnonymousSubscribe []string // --anonymous-subscribe
	AnonymousPublish   []string // --anonymous-publish
	AutoJoin           []string // --auto-join: rooms of / every token socket joins at connect
	ModeratorRole      string   // --moderator-role: the role that may edit and delete any message
	Namespaces         []string // --sio-namespaces, served before the file's
	// Set holds the names (without dashes) of the flags given explicitly,
	// on the command line or in the environment: a flag set explicitly and
	// the file section it is a shortcut for cannot both be used.
	Set map[string]bool
	// LogPrefix maps a namespace's name to what it puts before a room name
	// to make the log room name (the Socket.IO gateway's rule).
	LogPrefix func(namespace string) string
}

// Policy is the authorization policy merged from a PolicyFile and
// PolicyFlags, checked: the permissions for Config and the Socket.IO
// namespaces to serve.
type Policy struct {
	Users      Permissions            // Config.UserPermissions
	Anonymous  Permissions            // Config.AnonymousPermissions
	Roles      map[string]Permissions // Config.RolePermissions
	Keys       []APIKey               // Config.Keys
	Namespaces []PolicyNamespace      // the flags' namespaces, then the file's (sorted)
	// ModeratorRole may edit and delete any message ("" no role may).
	ModeratorRole string
	// AnonymousInFile is true when the file sets anonymous permissions
	// (worth a warning when anonymous access is off).
	AnonymousInFile bool
	// RetentionRules are the file's retention_rules, unchecked, when
	// RetentionInFile (the file has the section, even empty: then it, not
	// --retention-rules, decides).
	RetentionRules  []string
	RetentionInFile bool
}

// PolicyNamespace is a Socket.IO namespace to serve, with the role it
// requires ("" none) and the rooms sockets with a token auto-join.
type PolicyNamespace struct {
	Name     string
	Role     string
	AutoJoin []string
}

// MergePolicy checks f (nil: no file) and combines it with the flags. A
// setting given both by an explicit flag and by the file is an error,
// except API keys: the flags' keys are kept beside the file's api_keys.
// Every problem found is reported (errors.Join); errors never contain a
// key.
func MergePolicy(f *PolicyFile, fl PolicyFlags) (*Policy, error) {
	if f == nil {
		f = &PolicyFile{}
	}
	m := merger{fl: fl, p: &Policy{Roles: map[string]Permissions{}}}
	m.defaults(f)
	m.namespaces(f)
	m.apiKeys(f)
	if m.p.ModeratorRole = fl.ModeratorRole; f.ModeratorRole != "" && !m.both("moderator_role", "moderator-role") {
		m.p.ModeratorRole = f.ModeratorRole
	}
	if f.RetentionRules != nil && !m.both("retention_rules", "retention-rules") {
		m.p.RetentionRules, m.p.RetentionInFile = f.RetentionRules, true
	}
	return m.p, errors.Join(m.errs...)
}

// merger is the state of one MergePolicy.
type merger struct {
	fl   PolicyFlags
	p    *Policy
	errs []error
}

func (m *merger) fail(format string, args ...any) {
	m.errs = append(m.errs, fmt.Errorf(format, args...))
}

// both reports (and records as an error) that section is in the file
// while one of flags is set explicitly.
func (m *merger) both(section string, flags ...string) bool {
	for _, fl := range flags {
		if m.fl.Set[fl] {
			m.fail("%q in the policy file and --%s set the same thing: use one", section, fl)
			return true
		}
	}
	return false
}

// defaults sets the users' and anonymous permissions.
func (m *merger) defaults(f *PolicyFile) {
	fl, p := m.fl, m.p
	p.Users = Permissions{Subscribe: fl.UserSubscribe, History: fl.UserSubscribe, Presence: fl.UserSubscribe, Publish: fl.UserPublish}
	if f.Users != nil && !m.both("users", "user-subscribe", "user-publish") {
		p.Users = f.Users.Permissions()
	}
	m.errs = append(m.errs, checkPatterns("users", "", p.Users)...)
	p.Anonymous = Permissions{Subscribe: fl.AnonymousSubscribe, History: fl.AnonymousSubscribe, Presence: fl.AnonymousSubscribe, Publish: fl.AnonymousPublish}
	if f.Anonymous != nil && !m.both("anonymous", "anonymous-subscribe", "anonymous-publish") {
		p.Anonymous, p.AnonymousInFile = f.Anonymous.Permissions(), true
	}
	m.errs = append(m.errs, checkPatterns("anonymous", "", p.Anonymous)...)
}

// namespaces sets the namespaces to serve and adds their permissions.
func (m *merger) namespaces(f *PolicyFile) {
	fl, p := m.fl, m.p
	rootAuto := fl.AutoJoin
	if f.AutoJoin != nil && !m.both("auto_join", "auto-join") {
		rootAuto = f.AutoJoin
	}
	if np, ok := f.Namespaces["/"]; ok && np.AutoJoin != nil && (f.AutoJoin != nil || fl.Set["auto-join"]) {
		m.fail(`namespace "/": auto_join is also set by the top-level auto_join or --auto-join: use one`)
	}
	names := slices.Clone(fl.Namespaces)
	for _, n := range slices.Sorted(maps.Keys(f.Namespaces)) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(rootAuto) > 0 && !slices.Contains(names, "/") {
		m.fail("auto-join rooms are for the namespace /, which is not served (--sio-namespaces)")
	}
	for _, n := range names {
		np := f.Namespaces[n]
		ns := PolicyNamespace{Name: n, Role: np.Role, AutoJoin: np.AutoJoin}
		where := fmt.Sprintf("namespace %q", n)
		if !strings.HasPrefix(n, "/") {
			m.fail("%s: a namespace starts with /", where)
			continue
		}
		if n == "/" && ns.AutoJoin == nil {
			ns.AutoJoin = rootAuto
		}
		prefix := fl.LogPrefix(n)
		if np.Users != nil {
			perms := np.Users.Permissions().Prefixed(prefix)
			m.errs = append(m.errs, checkPatterns(where+" users", prefix, perms)...)
			if ns.Role != "" {
				p.Roles[ns.Role] = p.Roles[ns.Role].Add(perms)
			} else {
				p.Users = p.Users.Add(perms)
			}
		}
		if np.Anonymous != nil {
			if ns.Role != "" {
				m.fail("%s: anonymous permissions in a namespace that needs a role are never used", where)
			}
			perms := np.Anonymous.Permissions().Prefixed(prefix)
			m.errs = append(m.errs, checkPatterns(where+" anonymous", prefix, perms)...)
			p.Anonymous = p.Anonymous.Add(perms)
		}
		for _, r := range ns.AutoJoin {
			if err := checkAutoJoin(r, prefix); err != nil {
				m.fail("%s auto_join: %v", where, err)
			}
		}
		p.Namespaces = append(p.Namespaces, ns)
	}
}

// apiKeys sets the file's API keys.
func (m *merger) apiKeys(f *PolicyFile) {
	for i, k := range f.APIKeys {
		ak, err := k.apiKey()
		if err != nil {
			m.fail("api_keys[%d]: %v", i, err)
			continue
		}
		if ak.Rooms != nil {
			m.errs = append(m.errs, checkPatterns(fmt.Sprintf("api_keys[%d] rooms", i), "", *ak.Rooms)...)
		}
		m.p.Keys = append(m.p.Keys, ak)
	}
}

// apiKey turns one api_keys entry into an APIKey. Errors never contain
// the key.
func (k APIKeyPolicy) apiKey() (APIKey, error) {
	ak := APIKey{Name: k.Name, Key: k.Key, Admin: k.Rooms == nil}
	if k.Name != "" {
		if err := ValidKeyName(k.Name); err != nil {
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
func checkPatterns(where, prefix string, p Permissions) []error {
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
