package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// The configuration file is TOML: flat `key = value` lines whose keys are
// the flag names, spelled as the flags are (max-history = 500, the TOML
// bare key the flag --max-history is). TOML rather than YAML because its
// values are what they look like: a string is quoted, there are no
// implicit types (YAML reads on, no and 0700 as a bool and an octal
// number), and indentation means nothing.
//
// Why the layering (flags > environment > file > defaults) is ours, in
// parseConfig: the libraries made for it (ff v3, koanf v2) flatten the file
// into name/value pairs before they apply it and so cannot name the line
// of an unknown key or a bad value; ff v3 also reads os.Getenv, where
// rtbroker's commands take the environment as a function. The file is
// parsed by go-toml's position-keeping parser (unstable.Parser: each key
// keeps its place in the input), and the three layers are a loop over
// the FlagSet.

// configFileFlag names the flag (and RTBROKER_CONFIG) giving the file; it
// is the one flag the file cannot set.
const configFileFlag = "config"

// fileSetting is one `key = value` line of the configuration file, its
// value in the text form the flag's Set takes.
type fileSetting struct {
	Key, Value string
	Line       int
}

// readConfigFile reads path and returns its settings in file order. Every
// key must be a flag of fs other than --config, and every value must be
// one its flag accepts: errors name the file, the line, the key and the
// value, all of them at once.
func readConfigFile(path string, fs *flag.FlagSet) ([]fileSetting, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	settings, err := parseConfigTOML(data)
	if err != nil {
		return nil, fmt.Errorf("%s:%w", path, err)
	}
	var errs []error
	seen := map[string]int{}
	for _, s := range settings {
		f := fs.Lookup(s.Key)
		switch {
		case s.Key == configFileFlag:
			errs = append(errs, fmt.Errorf("%s:%d: %q cannot be set in a config file", path, s.Line, s.Key))
		case f == nil:
			errs = append(errs, fmt.Errorf("%s:%d: unknown key %q%s", path, s.Line, s.Key, keyHint(s.Key, fs)))
		case seen[s.Key] != 0:
			errs = append(errs, fmt.Errorf("%s:%d: %q is set twice (first on line %d)", path, s.Line, s.Key, seen[s.Key]))
		default:
			seen[s.Key] = s.Line
			if err := checkValue(f, s.Value); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s = %q: %s", path, s.Line, s.Key, s.Value, err))
			}
		}
	}
	return settings, errors.Join(errs...)
}

// keyHint suggests the flag a misspelt key probably means: the same name
// with dashes for underscores, or without a leading "--".
func keyHint(key string, fs *flag.FlagSet) string {
	for _, k := range []string{strings.ReplaceAll(key, "_", "-"), strings.TrimLeft(key, "-"), strings.ToLower(key)} {
		if k != key && k != configFileFlag && fs.Lookup(k) != nil {
			return fmt.Sprintf(" (did you mean %q? keys are the flag names)", k)
		}
	}
	return " (keys are the flag names: rtbroker serve -h lists them)"
}

// checkValue reports whether f accepts value, on a fresh copy of the
// flags so that f itself keeps its value (a file's value is checked even
// when a flag or the environment overrides it).
func checkValue(f *flag.Flag, value string) error {
	scratch := flag.NewFlagSet("check", flag.ContinueOnError)
	(&config{}).flags(scratch)
	g := scratch.Lookup(f.Name)
	if g == nil {
		return errors.New("unknown")
	}
	if err := g.Value.Set(value); err != nil {
		return errors.New(wantText(f, err))
	}
	return nil
}

// parseConfigTOML returns the top-level key/value pairs of a TOML
// document. Tables, dotted keys' tables and inline tables are refused: the
// keys are flag names at the top level. An error starts with the line
// ("12: …") for its caller to put the file name before.
func parseConfigTOML(data []byte) ([]fileSetting, error) {
	var p unstable.Parser
	p.Reset(data)
	var out []fileSetting
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.KeyValue:
		case unstable.Table, unstable.ArrayTable:
			it := e.Key()
			it.Next()
			return nil, fmt.Errorf("%d: tables ([%s]) are not used: every key is a flag name at the top level", lineOf(&p, it.Node()), keyText(e))
		default:
			continue // comments and blank lines
		}
		key := keyText(e)
		it := e.Key()
		it.Next()
		line := lineOf(&p, it.Node())
		value, err := tomlValue(e.Value())
		if err != nil {
			return nil, fmt.Errorf("%d: %s: %v", line, key, err)
		}
		out = append(out, fileSetting{Key: key, Value: value, Line: line})
	}
	if err := p.Error(); err != nil {
		var perr *unstable.ParserError
		if errors.As(err, &perr) && perr.Highlight != nil {
			return nil, fmt.Errorf("%d: %s", p.Shape(p.Range(perr.Highlight)).Start.Line, perr.Message)
		}
		return nil, fmt.Errorf(" %v", err)
	}
	return out, nil
}

// keyText is a key as written, its dotted parts joined with ".".
func keyText(e *unstable.Node) string {
	var parts []string
	for it := e.Key(); it.Next(); {
		parts = append(parts, string(it.Node().Data))
	}
	return strings.Join(parts, ".")
}

// lineOf is the 1-based line where n starts.
func lineOf(p *unstable.Parser, n *unstable.Node) int {
	return p.Shape(n.Raw).Start.Line
}

// tomlValue is v in the text form flag.Value.Set takes: strings as they
// are, integers and floats in decimal, booleans as true/false, and an
// array of those joined with commas (the list flags' form).
func tomlValue(v *unstable.Node) (string, error) {
	switch v.Kind {
	case unstable.String, unstable.Bool:
		return string(v.Data), nil
	case unstable.Integer:
		n, err := strconv.ParseInt(string(v.Data), 0, 64) // base 0: 0x, 0o, 0b and _ as TOML writes them
		if err != nil {
			return "", fmt.Errorf("integer %s: %w", v.Data, err)
		}
		return strconv.FormatInt(n, 10), nil
	case unstable.Float:
		f, err := strconv.ParseFloat(strings.ReplaceAll(string(v.Data), "_", ""), 64)
		if err != nil {
			return "", fmt.Errorf("number %s: %w", v.Data, err)
		}
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	case unstable.Array:
		var items []string
		for it := v.Children(); it.Next(); {
			n := it.Node()
			if n.Kind == unstable.Array || n.Kind == unstable.InlineTable {
				return "", errors.New("an array holds strings or numbers only")
			}
			s, err := tomlValue(n)
			if err != nil {
				return "", err
			}
			if strings.Contains(s, ",") {
				return "", fmt.Errorf("%q: an item of a list cannot contain a comma", s)
			}
			items = append(items, s)
		}
		return strings.Join(items, ","), nil
	}
	return "", fmt.Errorf("a %s is not a value any flag takes (write a string, number, boolean or array)", v.Kind)
}

// secretFileWarnings warns when the file at path holds a secret
// (secretFlags) and users other than its owner may read it.
func secretFileWarnings(path string, settings []fileSetting) []string {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o044 == 0 {
		return nil
	}
	for _, s := range settings {
		if secretFlags[s.Key] {
			return []string{fmt.Sprintf("%s:%d: %s is a secret, and the file may be read by other users (mode %04o): chmod 600 %s", path, s.Line, s.Key, fi.Mode().Perm(), path)}
		}
	}
	return nil
}
