package main

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// TestRetentionRulesConfig: retention rules come from the policy file's
// retention_rules (one rule an item) or from --retention-rules, never
// both; a bad item is refused with an error naming the file, the key and
// the item.
func TestRetentionRulesConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  string // "" = no --policy
		args    []string
		env     map[string]string
		want    string // the rules, as fmt prints them
		wantErr []string
	}{
		{name: "none", want: "[]"},
		{name: "flag", args: []string{"--retention-rules", "chat:*=30d, dm:*=forever"}, want: "[chat:* 720h0m0s 0 dm:* 0s 0]"},
		{name: "file", policy: `{"retention_rules": ["chat:*=30d", "progress:*=1h", "audit:*=0/500", "dm:*=forever"]}`, want: "[chat:* 720h0m0s 0 progress:* 1h0m0s 0 audit:* 0s 500 dm:* 0s 0]"},
		{name: "file with no rules", policy: `{"retention_rules": []}`, want: "[]"},
		{name: "file and flag", policy: `{"retention_rules": ["chat:*=30d"]}`, args: []string{"--retention-rules", "chat:*=1d"}, wantErr: []string{`"retention_rules" in the policy file and --retention-rules`}},
		{name: "file and environment", policy: `{"retention_rules": ["chat:*=30d"]}`, env: map[string]string{"RTBROKER_RETENTION_RULES": "chat:*=1d"}, wantErr: []string{"--retention-rules"}},
		{name: "bad age", policy: `{"retention_rules": ["chat:*=30d", "progress:*=1x"]}`, wantErr: []string{"policy.json", "retention_rules[1]", `"progress:*=1x"`, "want a duration"}},
		{name: "bad count", policy: `{"retention_rules": ["audit:*=0/-5"]}`, wantErr: []string{"retention_rules[0]", "COUNT must be a whole number"}},
		{name: "no age", policy: `{"retention_rules": ["chat:*"]}`, wantErr: []string{"retention_rules[0]", "PATTERN=AGE"}},
		{name: "bad pattern", policy: `{"retention_rules": ["chat room=1h"]}`, wantErr: []string{"retention_rules[0]", "not allowed"}},
		{name: "not a list of strings", policy: `{"retention_rules": "chat:*=1h"}`, wantErr: []string{"retention_rules"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--data", t.TempDir()}, tc.args...)
			if tc.policy != "" {
				args = append(args, "--policy", writePolicy(t, tc.policy))
			}
			cfg, err := parseConfig("serve", args, func(k string) string { return tc.env[k] }, io.Discard)
			var got string
			if err == nil {
				rules, rerr := cfg.retention()
				err = rerr
				var parts []string
				for _, r := range rules {
					parts = append(parts, fmt.Sprint(r.Pattern, " ", r.MaxAge, " ", r.MaxCount))
				}
				got = "[" + strings.Join(parts, " ") + "]"
			}
			if len(tc.wantErr) == 0 {
				if err != nil || got != tc.want {
					t.Fatalf("rules %s, %v; want %s", got, err, tc.want)
				}
				return
			}
			for _, w := range tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("error %v, want one containing %q", err, w)
				}
			}
		})
	}
}

// TestRetentionRulesFromPolicyFile: the policy file's retention rules
// trim a chat room to its last 3 events and keep a DM room whole (the
// default keeps 2), and after the trim the folded message view shows the
// retained messages with their edits, read positions are where they were
// (one below the trimmed range), and unread counts count the retained
// events only.
func TestRetentionRulesFromPolicyFile(t *testing.T) {
	pol := writePolicy(t, `{"retention_rules": ["chat:*=0/3", "dm:*=forever"]}`)
	s := startServer(t, "", "--jwt-secret", testSecret, "--api-key", testAPIKey, "--policy", pol, "--retention-max-count", "2", "--retention-interval", "20ms")
	ada, bob := chatToken(t, "ada", "chat:*"), chatToken(t, "bob", "chat:*")
	ac, bc := cred{bearer: ada}, cred{bearer: bob}
	var m []wireEvent
	for i := range 4 {
		m = append(m, pubText(t, ac, s.URL, "chat:x", fmt.Sprint("m", i))) // 1 to 4
	}
	if status, body := changeHTTP(t, ac, s.URL, "chat:x", m[3], "m3 v2"); status != 200 { // 5
		t.Fatalf("edit: %d %s", status, body)
	}
	for i := range 3 {
		pubText(t, ac, s.URL, "dm:ada:bob", fmt.Sprint("dm", i)) // 6 to 8
	}
	for _, mark := range []struct {
		c   cred
		off uint64
	}{{ac, 2}, {bc, 4}} {
		if status, body, _ := mark.c.do(t, "POST", s.URL+"/api/rooms/chat:x/read", fmt.Sprintf(`{"offset":%d}`, mark.off)); status != 200 {
			t.Fatalf("mark: %d %s", status, body)
		}
	}
	waitTrimmed(t, s.URL, "chat:x", 2, func(u string, v any) { getAPI(t, u, v) })
	// chat:x keeps 3, 4 and the edit 5.
	if got := fmt.Sprint(folded(t, ac, s.URL, "chat:x", 10)); got != "[m2 m3 v2]" {
		t.Errorf("folded view after the trim: %s, want [m2 m3 v2]", got)
	}
	sameRooms(t, "ada after the trim", myRooms(t, s.URL, ada), []unreadRoom{{Room: "chat:x", Head: 5, Read: 2, Unread: 3}, {Room: "dm:ada:bob", Head: 8, Unread: 3}})
	sameRooms(t, "bob after the trim", myRooms(t, s.URL, bob), []unreadRoom{{Room: "chat:x", Head: 5, Read: 4, Unread: 1}, {Room: "dm:ada:bob", Head: 8, Unread: 3}})
	var rooms struct {
		Rooms []struct {
			Room  string `json:"room"`
			Count int    `json:"count"`
		} `json:"rooms"`
	}
	time.Sleep(200 * time.Millisecond) // retention runs again, a few times: nothing more goes
	getAPI(t, s.URL+"/api/rooms", &rooms)
	if fmt.Sprint(rooms.Rooms) != "[{chat:x 3} {dm:ada:bob 3}]" {
		t.Errorf("rooms after retention ran many times: %v, want chat:x 3 and the DM whole", rooms.Rooms)
	}
}
