package auth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/rtbroker/rtbroker/gateways/auth"
)

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// flags are rtbroker serve's policy flags at their defaults, with set
// marked explicit and the Socket.IO gateway's namespace prefix rule.
func flags(set ...string) auth.PolicyFlags {
	fl := auth.PolicyFlags{
		AnonymousSubscribe: []string{"*"},
		AnonymousPublish:   []string{"*"},
		Namespaces:         []string{"/"},
		Set:                map[string]bool{},
		LogPrefix: func(n string) string {
			if n == "/" {
				return ""
			}
			return strings.TrimPrefix(n, "/") + ":"
		},
	}
	for _, s := range set {
		fl.Set[s] = true
	}
	return fl
}

// TestMergePolicyErrors: a policy that cannot be what was meant is
// refused, with an error that says where (and never shows a key).
func TestMergePolicyErrors(t *testing.T) {
	const secretKey = "policy-key-never-shown"
	tests := []struct {
		name    string
		file    string // "" = no file
		flags   func(*auth.PolicyFlags)
		set     []string // flags given explicitly
		wantErr string   // "" = accepted
	}{
		{name: "full example", file: `{
			"users": {"subscribe": ["general", "user:{sub}"], "publish": ["general"]},
			"anonymous": {"subscribe": ["general"], "publish": []},
			"namespaces": {"/admin": {"role": "admin", "users": {"subscribe": ["*"], "publish": ["room-*"]}}, "/chat": {"users": {"publish": ["*"]}, "anonymous": {"subscribe": ["lobby"]}}},
			"api_keys": [{"name": "newsbot", "key_sha256": "` + sha256Hex(secretKey) + `", "rooms": {"publish": ["news:*"]}}, {"key": "k2"}],
			"auto_join": ["user:{sub}"]}`},
		{name: "flags only", set: []string{"user-subscribe", "user-publish", "auto-join"}, flags: func(f *auth.PolicyFlags) {
			f.UserSubscribe, f.UserPublish, f.AutoJoin = []string{"lobby", "inbox:{sub}"}, []string{"lobby"}, []string{"user:{sub}"}
		}},
		{name: "not JSON", file: `{"users": `, wantErr: "unexpected EOF"},
		{name: "unknown field", file: `{"user": {}}`, wantErr: `unknown field "user"`},
		{name: "unknown nested field", file: `{"namespaces": {"/admin": {"rol": "admin"}}}`, wantErr: `unknown field "rol"`},
		{name: "unknown room action", file: `{"users": {"write": ["*"]}}`, wantErr: `unknown field "write"`},
		{name: "trailing data", file: `{} {}`, wantErr: "after the JSON object"},
		{name: "users by file and flag", file: `{"users": {"subscribe": ["a"]}}`, set: []string{"user-publish"}, wantErr: `"users" in the policy file and --user-publish`},
		{name: "anonymous by file and flag", file: `{"anonymous": {"subscribe": ["a"]}}`, set: []string{"anonymous-publish"}, wantErr: `"anonymous" in the policy file and --anonymous-publish`},
		{name: "auto_join by file and flag", file: `{"auto_join": ["user:{sub}"]}`, set: []string{"auto-join"}, wantErr: "--auto-join"},
		{name: "auto_join twice in the file", file: `{"auto_join": ["a"], "namespaces": {"/": {"auto_join": ["b"]}}}`, wantErr: "auto_join is also set"},
		{name: "auto_join without the namespace /", flags: func(f *auth.PolicyFlags) {
			f.AutoJoin, f.Namespaces = []string{"user:{sub}"}, []string{"/admin"}
		}, wantErr: "not served"},
		{name: "namespace without a slash", file: `{"namespaces": {"admin": {}}}`, wantErr: "starts with /"},
		{name: "anonymous in a namespace that needs a role", file: `{"namespaces": {"/admin": {"role": "admin", "anonymous": {"subscribe": ["*"]}}}}`, wantErr: "never used"},
		{name: "empty pattern", file: `{"users": {"subscribe": [""]}}`, wantErr: "empty pattern"},
		{name: "pattern with a space", file: `{"users": {"publish": ["a b"]}}`, wantErr: `pattern "a b"`},
		{name: "pattern with another placeholder", flags: func(f *auth.PolicyFlags) { f.UserSubscribe = []string{"user:{name}"} }, wantErr: "{sub}"},
		{name: "bad namespace pattern", file: `{"namespaces": {"/admin": {"users": {"subscribe": ["x y"]}}}}`, wantErr: `namespace "/admin" users: pattern "x y"`},
		{name: "wildcard auto-join", flags: func(f *auth.PolicyFlags) { f.AutoJoin = []string{"user:*"} }, wantErr: "cannot hold *"},
		{name: "bad scoped key pattern", file: `{"api_keys": [{"key": "k", "rooms": {"publish": ["?"]}}]}`, wantErr: "api_keys[0] rooms"},
		{name: "key and digest", file: `{"api_keys": [{"key": "` + secretKey + `", "key_sha256": "` + sha256Hex(secretKey) + `"}]}`, wantErr: "not both"},
		{name: "short digest", file: `{"api_keys": [{"key_sha256": "abcd"}]}`, wantErr: "64 hex digits"},
		{name: "no key", file: `{"api_keys": [{"name": "x"}]}`, wantErr: `needs "key"`},
		{name: "bad key name", file: `{"api_keys": [{"name": "news bot", "key": "k"}]}`, wantErr: "name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fl := flags(tc.set...)
			if tc.flags != nil {
				tc.flags(&fl)
			}
			var f *auth.PolicyFile
			var err error
			if tc.file != "" {
				f, err = auth.ParsePolicyFile([]byte(tc.file))
			}
			if err == nil {
				_, err = auth.MergePolicy(f, fl)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), secretKey) {
				t.Fatalf("the error shows the key: %v", err)
			}
		})
	}
}

// TestMergePolicy: what a file and the flags merge into.
func TestMergePolicy(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		flags func(*auth.PolicyFlags)
		want  func(*auth.Policy) string // "" = as expected, else what is wrong
	}{
		{name: "namespaces: the flags', then the file's, sorted; auto-join of /",
			file: `{"namespaces": {"/admin": {"role": "admin", "auto_join": ["ops"]}, "/chat": {"users": {"subscribe": ["*"]}}, "/b": {}}}`,
			flags: func(f *auth.PolicyFlags) {
				f.Namespaces, f.AutoJoin = []string{"/", "/chat"}, []string{"user:{sub}"}
			},
			want: func(p *auth.Policy) string {
				got := fmt.Sprintf("%+v", p.Namespaces)
				if want := "[{Name:/ Role: AutoJoin:[user:{sub}]} {Name:/chat Role: AutoJoin:[]} {Name:/admin Role:admin AutoJoin:[ops]} {Name:/b Role: AutoJoin:[]}]"; got != want {
					return "namespaces " + got + ", want " + want
				}
				return ""
			}},
		{name: "flags are the users' and anonymous defaults",
			flags: func(f *auth.PolicyFlags) {
				f.UserSubscribe, f.UserPublish, f.AnonymousPublish = []string{"inbox:{sub}"}, []string{"lobby"}, nil
			},
			want: func(p *auth.Policy) string {
				if got := fmt.Sprintf("%+v %+v", p.Users, p.Anonymous); got != "{Subscribe:[inbox:{sub}] Publish:[lobby] History:[inbox:{sub}] Presence:[inbox:{sub}]} {Subscribe:[*] Publish:[] History:[*] Presence:[*]}" {
					return got
				}
				return ""
			}},
		{name: "namespace users go to the role, or to every user, prefixed",
			file: `{"users": {"subscribe": ["lobby"]}, "namespaces": {"/admin": {"role": "admin", "users": {"publish": ["room-*"]}}, "/chat": {"users": {"publish": ["*"]}, "anonymous": {"subscribe": ["hall"]}}}}`,
			want: func(p *auth.Policy) string {
				if got := fmt.Sprint(p.Roles["admin"].Publish, p.Users.Publish, p.Users.Subscribe, p.Anonymous.Subscribe, p.AnonymousInFile); got != "[admin:room-*] [chat:*] [lobby] [* chat:hall] false" {
					return got
				}
				return ""
			}},
		{name: "api keys: scoped ones are not admin unless said",
			file: `{"api_keys": [{"name": "bot", "key": "k1", "rooms": {"publish": ["news:*"]}}, {"key": "k2"}, {"key": "k3", "rooms": {}, "admin": true}]}`,
			want: func(p *auth.Policy) string {
				if len(p.Keys) != 3 {
					return fmt.Sprint(len(p.Keys), " keys")
				}
				if got := fmt.Sprint(p.Keys[0].Name, p.Keys[0].Admin, *p.Keys[0].Rooms, p.Keys[1].Admin, p.Keys[1].Rooms == nil, p.Keys[2].Admin); got != "botfalse {[] [news:*] [] []} true true true" {
					return got
				}
				return ""
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fl := flags()
			if tc.flags != nil {
				tc.flags(&fl)
			}
			var f *auth.PolicyFile
			if tc.file != "" {
				var err error
				if f, err = auth.ParsePolicyFile([]byte(tc.file)); err != nil {
					t.Fatal(err)
				}
			}
			p, err := auth.MergePolicy(f, fl)
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.want(p); msg != "" {
				t.Fatal(msg)
			}
		})
	}
}
