package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// secretFlags are the flags whose values `rtbroker config` never prints.
// A URL's password (user:password@host) is masked in every flag.
var secretFlags = map[string]bool{"jwt-secret": true, "api-key": true}

// masked stands for a secret in `rtbroker config`'s output.
const masked = "(set, masked)"

// runConfig prints the effective configuration of `rtbroker serve` given
// the same flags, environment and --config file: one TOML line per flag
// with where its value came from. Secrets are masked and their lines
// commented out, so the output is itself a config file that sets no
// secret. It returns validate's error after printing.
func runConfig(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, fs, err := loadConfig("config", args, getenv, stderr)
	if err != nil {
		return err
	}
	verr := c.validate()
	fmt.Fprintln(stdout, "# The effective settings of rtbroker serve, one per flag, with where each came from.")
	for _, w := range c.warnings {
		fmt.Fprintln(stdout, "# warning:", w)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == configFileFlag {
			return
		}
		fmt.Fprintln(stdout, configLine(f, c.sources[f.Name]))
	})
	return verr
}

// configLine is f as a TOML line, followed by its source ("default" when
// none), masked when it is a secret.
func configLine(f *flag.Flag, source string) string {
	if source == "" {
		source = "default"
	}
	var v any = f.Value.String()
	switch fv := f.Value.(type) {
	case listFlag:
		v = []string{}
		if *fv.p != nil {
			v = *fv.p
		}
	case optBool:
		if *fv.p == nil {
			return fmt.Sprintf("# %s = (not set: %s)  # %s", f.Name, strings.TrimSuffix(usageDefault(f), ")"), source)
		}
		v = **fv.p
	case flag.Getter:
		v = fv.Get()
		if d, ok := v.(time.Duration); ok {
			v = shortDuration(d)
		}
	}
	if secretFlags[f.Name] && f.Value.String() != "" {
		return fmt.Sprintf("# %s = %s  # %s", f.Name, masked, source)
	}
	if s, ok := v.(string); ok {
		v = redactURLs(s)
	}
	b, err := toml.Marshal(map[string]any{f.Name: v})
	if err != nil { // strings, numbers, booleans and string lists always marshal
		return fmt.Sprintf("# %s: %v", f.Name, err)
	}
	return strings.TrimSuffix(string(b), "\n") + "  # " + source
}

// usageDefault is the parenthesised default a flag's usage ends with
// ("(default: …)"), or "".
func usageDefault(f *flag.Flag) string {
	if i := strings.LastIndex(f.Usage, "(default: "); i >= 0 {
		return strings.TrimPrefix(f.Usage[i:], "(default: ")
	}
	return ""
}

// redactURLs masks the password of every URL in a comma-separated list.
func redactURLs(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), "masked")
				parts[i] = u.String()
			}
		}
	}
	return strings.Join(parts, ",")
}
