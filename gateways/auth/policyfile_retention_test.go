package auth_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rtbroker/rtbroker/gateways/auth"
)

// The file's retention_rules are passed on as they are (the command
// checks them), an empty list counts as set, and the file and an explicit
// --retention-rules cannot both set them.
func TestMergePolicyRetentionRules(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    string // "" no file
		set     bool   // --retention-rules was set explicitly
		want    string // Policy.RetentionRules and RetentionInFile, as fmt prints them
		wantErr string
	}{
		{name: "none", want: "[] false"},
		{name: "flag only", set: true, want: "[] false"},
		{name: "file", file: `{"retention_rules":["chat:*=30d","dm:*=forever"]}`, want: "[chat:*=30d dm:*=forever] true"},
		{name: "file, empty", file: `{"retention_rules":[]}`, want: "[] true"},
		{name: "both", file: `{"retention_rules":["chat:*=30d"]}`, set: true, wantErr: `"retention_rules" in the policy file and --retention-rules set the same thing`},
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
				Set: map[string]bool{"retention-rules": tc.set}, LogPrefix: func(string) string { return "" },
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %s", err, tc.wantErr)
				}
				return
			}
			if got := fmt.Sprint(p.RetentionRules, " ", p.RetentionInFile); err != nil || got != tc.want {
				t.Fatalf("got %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}
