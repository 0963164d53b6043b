package main

import (
	"flag"
	"fmt"
	"strings"
	"time"
)

// defaultText is a flag's default as -h shows it: durations in their
// shortest form (24h, not 24h0m0s).
func defaultText(f *flag.Flag) string {
	if g, ok := f.Value.(flag.Getter); ok {
		if d, ok := g.Get().(time.Duration); ok {
			return shortDuration(d)
		}
	}
	return f.DefValue
}

// shortDuration formats d without zero minutes and seconds after a larger
// unit: 24h0m0s → 24h, 1m0s → 1m, 1h30m0s → 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// envError says which environment variable held a value its flag refused,
// the value, and the form expected (with the flag's default as an example).
func envError(f *flag.Flag, value string, err error) error {
	return fmt.Errorf("%s=%q: %s", envName(f.Name), value, wantText(f, err))
}

// wantText is the form f expects ("want an integer, e.g. 32"), or err's
// text for a flag whose form has no name.
func wantText(f *flag.Flag, err error) string {
	kind, _ := flag.UnquoteUsage(f)
	want := map[string]string{"int": "an integer", "uint": "a non-negative integer", "int64": "an integer", "uint64": "a non-negative integer",
		"float": "a number", "duration": "a duration such as 90s, 5m or 24h", "bytes": "a number of bytes", "value": "true or false"}[kind]
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		want = "true or false"
	}
	if want == "" {
		return err.Error()
	}
	if def := defaultText(f); def != "" && kind != "duration" && kind != "value" {
		want += ", e.g. " + def
	}
	return "want " + want
}

// clampPollTimeout lowers the default long-poll hold to --poll-max-timeout
// when only the maximum was set below it (--poll-max-timeout 2s alone);
// values both given explicitly are left for validate to judge.
func (c *config) clampPollTimeout() {
	if !c.explicit["poll-timeout"] && c.PollMaxTimeout > 0 && c.PollTimeout > c.PollMaxTimeout {
		c.PollTimeout = c.PollMaxTimeout
	}
}
