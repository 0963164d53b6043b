package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(*config) bool
		wantErr string
	}{
		{name: "defaults", check: func(c *config) bool {
			return c.Addr == ":8080" && c.Data == "./data" && c.PollTimeout == 25*time.Second && c.RetentionMaxCount == 0
		}},
		{name: "flag", args: []string{"--addr", "127.0.0.1:9000", "--data", "/tmp/x"}, check: func(c *config) bool { return c.Addr == "127.0.0.1:9000" && c.Data == "/tmp/x" }},
		{name: "env", env: map[string]string{"RTBROKER_ADDR": ":9001", "RTBROKER_RETENTION_MAX_AGE": "72h", "RTBROKER_MAX_BODY_SIZE": "4096"}, check: func(c *config) bool {
			return c.Addr == ":9001" && c.RetentionMaxAge == 72*time.Hour && c.MaxBodySize == 4096
		}},
		{name: "flag wins over env", args: []string{"--addr", ":1"}, env: map[string]string{"RTBROKER_ADDR": ":2"}, check: func(c *config) bool { return c.Addr == ":1" }},
		{name: "bad env value", env: map[string]string{"RTBROKER_TAIL_SIZE": "many"}, wantErr: "RTBROKER_TAIL_SIZE"},
		{name: "bad flag value", args: []string{"--poll-timeout", "soon"}, wantErr: "poll-timeout"},
		{name: "invalid limit", args: []string{"--max-rooms", "0"}, wantErr: "--max-rooms must be positive"},
		{name: "poll timeout above max", args: []string{"--poll-timeout", "2m"}, wantErr: "--poll-timeout"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantErr: "--log-level"},
		{name: "limit defaults", check: func(c *config) bool {
			return c.connectPerSec == 50 && c.ConnectBurst == 200 && c.SIOMaxPending == 64
		}},
		{name: "connect rate off", env: map[string]string{"RTBROKER_CONNECT_RATE": "0"}, check: func(c *config) bool { return c.connectPerSec == 0 }},
		{name: "bad connect rate", args: []string{"--connect-rate", "20"}, wantErr: "--connect-rate"},
		{name: "no pending acks", args: []string{"--sio-max-pending", "0"}, wantErr: "--sio-max-pending must be positive"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig("serve", tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("config = %+v", c)
			}
		})
	}
}

func TestHelpListsEnvNames(t *testing.T) {
	var out strings.Builder
	_, err := parseConfig("serve", []string{"-h"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"--addr", "RTBROKER_ADDR", "--retention-max-count", "RTBROKER_RETENTION_MAX_COUNT"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help does not mention %s:\n%s", want, out.String())
		}
	}
}
