package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// TestConfigValueErrors: a value that does not parse is reported with its
// variable, the value and the form expected; --poll-max-timeout alone
// below the default hold lowers the hold, and conflicting explicit values
// are named.
func TestConfigValueErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		env       map[string]string
		wantErr   string
		wantPoll  time.Duration
		wantMaxPo time.Duration
	}{
		{name: "integer", env: map[string]string{"RTBROKER_MAX_ROOMS": "abc"}, wantErr: `RTBROKER_MAX_ROOMS="abc": want an integer, e.g. 32`},
		{name: "bytes", env: map[string]string{"RTBROKER_MAX_BODY_SIZE": "1k"}, wantErr: `RTBROKER_MAX_BODY_SIZE="1k": want a number of bytes, e.g. 1048576`},
		{name: "duration", env: map[string]string{"RTBROKER_POLL_TIMEOUT": "soon"}, wantErr: `RTBROKER_POLL_TIMEOUT="soon": want a duration such as 90s, 5m or 24h`},
		{name: "boolean", env: map[string]string{"RTBROKER_ANONYMOUS": "maybe"}, wantErr: `RTBROKER_ANONYMOUS="maybe": want true or false`},
		{name: "max poll alone lowers the hold", args: []string{"--poll-max-timeout", "2s"}, wantPoll: 2 * time.Second, wantMaxPo: 2 * time.Second},
		{name: "max poll alone from the environment", env: map[string]string{"RTBROKER_POLL_MAX_TIMEOUT": "2s"}, wantPoll: 2 * time.Second, wantMaxPo: 2 * time.Second},
		{name: "max poll above the hold keeps it", args: []string{"--poll-max-timeout", "90s"}, wantPoll: 25 * time.Second, wantMaxPo: 90 * time.Second},
		{name: "both explicit and in conflict", args: []string{"--poll-timeout", "30s", "--poll-max-timeout", "2s"}, wantErr: "need 0 < --poll-timeout (30s) <= --poll-max-timeout (2s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig("serve", tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.PollTimeout != tc.wantPoll || c.PollMaxTimeout != tc.wantMaxPo {
				t.Errorf("poll timeout %v, max %v; want %v, %v", c.PollTimeout, c.PollMaxTimeout, tc.wantPoll, tc.wantMaxPo)
			}
		})
	}
}

// TestHelpText: serve -h shows durations in their short form and the
// --allowed-origins line names everything the list governs.
func TestHelpText(t *testing.T) {
	var out bytes.Buffer
	if _, err := parseConfig("serve", []string{"-h"}, func(string) string { return "" }, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	help := out.String()
	for _, want := range []string{"default 24h)", "default 1m)", "default 25s)", "/api/*, /sse, /poll and Socket.IO polling", "CSRF"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	for _, bad := range []string{"0m0s", "h0m", "m0s)"} {
		if strings.Contains(help, bad) {
			t.Errorf("help shows a long duration (%q)", bad)
		}
	}
}

func TestShortDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{24 * time.Hour, "24h"}, {time.Minute, "1m"}, {90 * time.Minute, "1h30m"}, {10 * time.Second, "10s"},
		{90 * time.Second, "1m30s"}, {0, "0s"}, {1500 * time.Millisecond, "1.5s"}, {time.Hour + time.Second, "1h0m1s"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := shortDuration(tc.d); got != tc.want {
				t.Errorf("shortDuration(%v) = %q, want %q", tc.d, got, tc.want)
			}
		})
	}
}
