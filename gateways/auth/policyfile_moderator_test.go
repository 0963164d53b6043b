package auth_test

import (
	"strings"
	"testing"

	"github.com/rtbroker/rtbroker/gateways/auth"
)

func TestMergePolicyModeratorRole(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    string // "" no file
		flag    string
		set     bool // the flag was set explicitly
		want    string
		wantErr string
	}{
		{name: "none"},
		{name: "flag", flag: "mod", set: true, want: "mod"},
		{name: "file", file: `{"moderator_role":"moderator"}`, want: "moderator"},
		{name: "both", file: `{"moderator_role":"moderator"}`, flag: "mod", set: true, wantErr: "--moderator-role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f *auth.PolicyFile
			if tc.file != "" {
				var err error
				if f, err = auth.ParsePolicyFile([]byte(tc.file)); err != nil {
					t.Fatal(err)
				}
			}
			p, err := auth.MergePolicy(f, auth.PolicyFlags{
				ModeratorRole: tc.flag, Set: map[string]bool{"moderator-role": tc.set},
				LogPrefix: func(string) string { return "" },
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || p.ModeratorRole != tc.want {
				t.Fatalf("ModeratorRole %q, %v; want %q", p.ModeratorRole, err, tc.want)
			}
		})
	}
}
