package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Rooms is the JSON form of Permissions, as the token's `rooms` claim and
// rtbroker's policy file write it: {"subscribe": [...], "publish": [...],
// "history": [...], "presence": [...]}. History and presence default to
// the subscribe list when absent (an explicit empty list means none).
type Rooms struct {
	Subscribe []string  `json:"subscribe"`
	Publish   []string  `json:"publish"`
	History   *[]string `json:"history"`
	Presence  *[]string `json:"presence"`
}

// Permissions returns r with its defaults applied.
func (r Rooms) Permissions() Permissions {
	p := Permissions{Subscribe: r.Subscribe, Publish: r.Publish, History: r.Subscribe, Presence: r.Subscribe}
	if r.History != nil {
		p.History = *r.History
	}
	if r.Presence != nil {
		p.Presence = *r.Presence
	}
	return p
}

// Add returns p with q's patterns added, action by action (patterns p
// already has are not repeated). Neither p nor q is modified; when q adds
// nothing to an action, the result shares p's slice.
func (p Permissions) Add(q Permissions) Permissions {
	return Permissions{
		Subscribe: union(p.Subscribe, q.Subscribe),
		Publish:   union(p.Publish, q.Publish),
		History:   union(p.History, q.History),
		Presence:  union(p.Presence, q.Presence),
	}
}

// union returns a with b's strings that a lacks appended, in a new slice
// when there are any.
func union(a, b []string) []string {
	out := a
	for _, s := range b {
		if !slices.Contains(out, s) {
			if len(out) == len(a) {
				out = slices.Clip(out) // never append into a's array
			}
			out = append(out, s)
		}
	}
	return out
}

// Prefixed returns p with prefix put before every pattern: the
// permissions, given relative to a Socket.IO namespace's rooms, on the log
// rooms of that namespace ("room-*" with the prefix "admin:" is
// "admin:room-*").
func (p Permissions) Prefixed(prefix string) Permissions {
	if prefix == "" {
		return p
	}
	pre := func(ps []string) []string {
		if ps == nil {
			return nil
		}
		out := make([]string, len(ps))
		for i, s := range ps {
			out[i] = prefix + s
		}
		return out
	}
	return Permissions{Subscribe: pre(p.Subscribe), Publish: pre(p.Publish), History: pre(p.History), Presence: pre(p.Presence)}
}

// Empty reports whether p allows nothing.
func (p Permissions) Empty() bool {
	return len(p.Subscribe) == 0 && len(p.Publish) == 0 && len(p.History) == 0 && len(p.Presence) == 0
}

// APIKey is a server-to-server credential, sent as `Authorization: Bearer
// KEY` or `X-API-Key: KEY`. Keys are compared in constant time, as SHA-256
// digests; they are never logged and no error message contains one.
type APIKey struct {
	// Name, when set, makes the key's identity Subject (the `from` of its
	// events) APISubject + ":" + Name; without one it is APISubject.
	// Several keys may share a name (to rotate a key without changing its
	// identity). 1–64 characters of A–Z a–z 0–9 _ - .
	Name string
	// Key is the secret; Hash, its SHA-256 digest (32 bytes), configures a
	// key without writing the secret down. Exactly one is set.
	Key  string
	Hash []byte
	// Rooms, when not nil, limits the key to these permissions (a scoped
	// key); nil allows everything in every room.
	Rooms *Permissions
	// Admin allows the operator endpoints (the backup). Config.APIKeys
	// are Admin; a scoped key only with it set.
	Admin bool
}

// ValidKeyName reports whether name may name an API key.
func ValidKeyName(name string) error {
	if name == "" || len(name) > 64 {
		return errors.New("API key name must be 1–64 characters")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return fmt.Errorf("API key name %q may only hold A–Z a–z 0–9 _ - .", name)
		}
	}
	return nil
}

// apiKey is a configured key: its digest and the identity it proves.
type apiKey struct {
	hash [sha256.Size]byte
	id   Identity
}

// newAPIKey checks k and returns its digest and identity. i numbers the
// key in errors (which never show the key).
func newAPIKey(i int, k APIKey) (apiKey, error) {
	var out apiKey
	switch {
	case k.Key != "" && k.Hash != nil:
		return out, fmt.Errorf("API key #%d: give the key or its SHA-256, not both", i+1)
	case k.Key != "":
		out.hash = sha256.Sum256([]byte(k.Key))
	case len(k.Hash) == sha256.Size:
		copy(out.hash[:], k.Hash)
	case k.Hash != nil:
		return out, fmt.Errorf("API key #%d: SHA-256 digest must be %d bytes", i+1, sha256.Size)
	default:
		return out, errors.New("API key is empty")
	}
	all := All()
	out.id = Identity{Subject: APISubject, APIKey: true, Admin: k.Admin, Rooms: &all}
	if k.Name != "" {
		if err := ValidKeyName(k.Name); err != nil {
			return out, fmt.Errorf("API key #%d: %w", i+1, err)
		}
		out.id.Subject = APISubject + ":" + k.Name
	}
	if k.Rooms != nil {
		scoped := *k.Rooms
		out.id.Rooms = &scoped
	}
	return out, nil
}

// stringList is a claim that is a string or an array of strings.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = stringList{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return err
	}
	*l = ss
	return nil
}

// roles returns the roles of the `roles` and `role` claims, without
// empty strings or repeats.
func roles(lists ...stringList) []string {
	var out []string
	for _, l := range lists {
		for _, r := range l {
			if r != "" && !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}
