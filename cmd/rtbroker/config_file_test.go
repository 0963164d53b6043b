package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/storage/bolt"
)

// writeConfigFile writes text to a rtbroker.toml in a temporary directory.
func writeConfigFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rtbroker.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFilePrecedence: a flag wins over the environment, which wins
// over the file, which wins over the default; the file is named by
// --config or RTBROKER_CONFIG; each value's source is recorded.
func TestConfigFilePrecedence(t *testing.T) {
	path := writeConfigFile(t, `# every layer sets some of these
max-rooms = 11
max-history = 22
tail-size = 33
`)
	for _, viaEnv := range []bool{false, true} {
		t.Run(fmt.Sprintf("file via env %v", viaEnv), func(t *testing.T) {
			env := map[string]string{"RTBROKER_MAX_HISTORY": "222", "RTBROKER_TAIL_SIZE": "333"}
			args := []string{"--tail-size", "3333"}
			if viaEnv {
				env["RTBROKER_CONFIG"] = path
			} else {
				args = append(args, "--config", path)
			}
			c, err := parseConfig("serve", args, func(k string) string { return env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name      string
				got, want int
				source    string
			}{
				{name: "max-typists is the default", got: c.MaxTypists, want: 100000, source: ""},
				{name: "file over default", got: c.MaxRooms, want: 11, source: "file " + path + ":2"},
				{name: "env over file", got: c.MaxHistory, want: 222, source: "env RTBROKER_MAX_HISTORY"},
				{name: "flag over env", got: c.TailSize, want: 3333, source: "flag"},
			} {
				if tc.got != tc.want {
					t.Errorf("%s: got %d, want %d", tc.name, tc.got, tc.want)
				}
			}
			for key, want := range map[string]string{"max-typists": "", "max-rooms": "file " + path + ":2", "max-history": "env RTBROKER_MAX_HISTORY", "tail-size": "flag"} {
				if got := c.sources[key]; got != want {
					t.Errorf("source of %s = %q, want %q", key, got, want)
				}
				if c.explicit[key] != (want != "") {
					t.Errorf("explicit[%s] = %v", key, c.explicit[key])
				}
			}
		})
	}
}

// TestConfigFileErrors: unknown keys, bad values, tables, repeated keys and
// TOML syntax errors name the file and line (and the key and value).
func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{name: "unknown key", text: "addr = \":1\"\n\nmax-histroy = 5\n", want: []string{`rtbroker.toml:3: unknown key "max-histroy"`}},
		{name: "underscores", text: "max_history = 5\n", want: []string{`rtbroker.toml:1: unknown key "max_history" (did you mean "max-history"?`}},
		{name: "bad integer", text: "# c\ntail-size = \"many\"\n", want: []string{`rtbroker.toml:2: tail-size = "many": want an integer, e.g. 16384`}},
		{name: "bad duration", text: "poll-timeout = 25\n", want: []string{`rtbroker.toml:1: poll-timeout = "25": want a duration such as 90s, 5m or 24h`}},
		{name: "bad bool", text: "presence-events = \"maybe\"\n", want: []string{`rtbroker.toml:1: presence-events = "maybe": want true or false`}},
		{name: "every error at once", text: "nope = 1\nmax-rooms = \"x\"\n", want: []string{`rtbroker.toml:1: unknown key "nope"`, `rtbroker.toml:2: max-rooms = "x"`}},
		{name: "table", text: "addr = \":1\"\n[sse]\nretry = \"2s\"\n", want: []string{`rtbroker.toml:2: tables ([sse]) are not used`}},
		{name: "dotted key", text: "sse.retry = \"2s\"\n", want: []string{`rtbroker.toml:1: unknown key "sse.retry"`}},
		{name: "twice", text: "max-rooms = 1\nmax-rooms = 2\n", want: []string{`rtbroker.toml:2: "max-rooms" is set twice (first on line 1)`}},
		{name: "syntax", text: "addr = \":1\"\nmax-rooms = = 2\n", want: []string{`rtbroker.toml:2: `}},
		{name: "inline table", text: "addr = {a = 1}\n", want: []string{`rtbroker.toml:1: addr: a InlineTable is not a value`}},
		{name: "config in config", text: "config = \"other.toml\"\n", want: []string{`rtbroker.toml:1: "config" cannot be set in a config file`}},
		{name: "bad value under a flag", text: "max-rooms = \"x\"\n", want: []string{`max-rooms = "x"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfigFile(t, tc.text)
			_, err := parseConfig("serve", []string{"--config", path, "--max-rooms", "3"}, func(string) string { return "" }, io.Discard)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v\nwant it to contain %q", err, w)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := parseConfig("serve", nil, func(k string) string { return map[string]string{"RTBROKER_CONFIG": "/nonexistent/rtbroker.toml"}[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "/nonexistent/rtbroker.toml") {
			t.Fatalf("err = %v", err)
		}
	})
}

// sampleValue is a valid value for f that differs from its default, in
// the TOML a config file would hold, and the text f.Value.String() then
// gives.
func sampleValue(t *testing.T, f *flag.Flag) (toml, want string) {
	switch v := f.Value.(type) {
	case listFlag:
		return `["/a", "/b"]`, "/a,/b"
	case optBool:
		return "false", "false"
	case flag.Getter:
		switch d := v.Get().(type) {
		case string:
			s := "from-file-" + f.Name
			return strconv.Quote(s), s
		case int, int64:
			n, _ := strconv.ParseInt(fmt.Sprint(d), 10, 64)
			return strconv.FormatInt(n+7, 10), strconv.FormatInt(n+7, 10)
		case bool:
			return strconv.FormatBool(!d), strconv.FormatBool(!d)
		case time.Duration:
			return `"1h7m"`, (time.Hour + 7*time.Minute).String()
		}
	}
	t.Fatalf("--%s: no sample value for a %T: add one to sampleValue", f.Name, f.Value)
	return "", ""
}

// TestConfigFileSetsEveryFlag: every flag of serve (the table is the
// FlagSet, so a new flag is covered when it is added) can be set in the
// file, under its own name, and its source is the file's line.
func TestConfigFileSetsEveryFlag(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	(&config{}).flags(fs)
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == configFileFlag {
			return
		}
		n++
		t.Run(f.Name, func(t *testing.T) {
			toml, want := sampleValue(t, f)
			path := writeConfigFile(t, "# one setting\n"+f.Name+" = "+toml+"\n")
			c, fs2, err := loadConfig("serve", []string{"--config", path}, func(string) string { return "" }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got := fs2.Lookup(f.Name).Value.String(); got != want {
				t.Errorf("%s = %s in the file gives %q, want %q", f.Name, toml, got, want)
			}
			if got := c.sources[f.Name]; got != "file "+path+":2" {
				t.Errorf("source %q", got)
			}
		})
	})
	if n < 60 {
		t.Fatalf("only %d flags visited", n)
	}
}

// TestConfigCommand: rtbroker config prints every setting with its source,
// masks secrets from every layer (and URL passwords), and its output,
// read back as a config file, gives the same settings.
func TestConfigCommand(t *testing.T) {
	path := writeConfigFile(t, `jwt-secret = "file-secret-value"
nats-url = "nats://ops:url-secret-pw@10.0.0.1:4222,nats://10.0.0.2:4222"
max-history = 42
allowed-origins = ["https://app.example"]
`)
	env := map[string]string{"RTBROKER_CONFIG": path, "RTBROKER_API_KEY": "env-key-one,env-key-two", "RTBROKER_SSE_RETRY": "3s"}
	var out, errOut strings.Builder
	err := run(context.Background(), []string{"config", "--max-rooms", "9"}, func(k string) string { return env[k] }, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	text := out.String()
	for _, secret := range []string{"file-secret-value", "env-key-one", "env-key-two", "url-secret-pw"} {
		if strings.Contains(text, secret) {
			t.Errorf("output shows the secret %q:\n%s", secret, text)
		}
	}
	for _, want := range []string{
		"# jwt-secret = " + masked + "  # file " + path + ":1",
		"# api-key = " + masked + "  # env RTBROKER_API_KEY",
		"nats-url = 'nats://ops:masked@10.0.0.1:4222,nats://10.0.0.2:4222'  # file " + path + ":2",
		"max-history = 42  # file " + path + ":3",
		"allowed-origins = ['https://app.example']  # file " + path + ":4",
		"sse-retry = '3s'  # env RTBROKER_SSE_RETRY",
		"max-rooms = 9  # flag",
		"addr = ':8080'  # default",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("output lacks the line %q:\n%s", want, text)
		}
	}

	// Read back, the output sets the same values (secrets aside).
	back := writeConfigFile(t, text)
	_, fs1, err := loadConfig("serve", []string{"--max-rooms", "9"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, fs2, err := loadConfig("serve", []string{"--config", back}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatalf("the output is not a config file: %v", err)
	}
	fs1.VisitAll(func(f *flag.Flag) {
		if f.Name == configFileFlag || secretFlags[f.Name] || f.Name == "nats-url" {
			return
		}
		if a, b := f.Value.String(), fs2.Lookup(f.Name).Value.String(); a != b {
			t.Errorf("%s: %q, read back %q", f.Name, a, b)
		}
	})
}

// TestSecretFlagsAreMasked: a flag whose name says it holds a secret is
// in secretFlags, so a new one cannot be printed by rtbroker config.
func TestSecretFlagsAreMasked(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	(&config{}).flags(fs)
	looksSecret := regexp.MustCompile(`secret|password|passwd|token|api-key|credential`)
	fs.VisitAll(func(f *flag.Flag) {
		if looksSecret.MatchString(f.Name) && !secretFlags[f.Name] {
			t.Errorf("--%s looks like a secret but is not in secretFlags", f.Name)
		}
	})
	for name := range secretFlags {
		if fs.Lookup(name) == nil {
			t.Errorf("secretFlags names %q, which is no flag", name)
		}
	}
}

// FuzzConfigFile reads arbitrary files as configuration: an error or
// settings, never a panic; every error names the file and a line, and
// every setting has a line within the file.
func FuzzConfigFile(f *testing.F) {
	for _, seed := range []string{
		"addr = \":1\"\nmax-history = 1_000\n",
		"allowed-origins = [\"a\", \"b\"]\nanonymous = true\n",
		"[table]\nx = 1\n",
		"a.b.c = 0x1F\n'quoted' = \"\\u00e9\"\n",
		"max-rooms = [[1], {a = 1}]\n",
		"x = 1979-05-27T07:32:00Z\ny = 1.5e3\nz = inf\n",
		"= 1\n", "max-rooms = \n", "\"unterminated\n",
	} {
		f.Add([]byte(seed))
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	(&config{}).flags(fs)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.toml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		settings, err := readConfigFile(path, fs)
		if err != nil {
			if !strings.HasPrefix(err.Error(), path+":") {
				t.Fatalf("error without the file: %v", err)
			}
			return
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, s := range settings {
			if s.Line < 1 || s.Line > lines {
				t.Fatalf("%s on line %d of %d", s.Key, s.Line, lines)
			}
		}
	})
}

// TestConfigFileSecretWarning: a secret in a file other users may read is
// warned about (serve logs it at WARN, rtbroker config prints it); the
// same file with mode 0600, or without a secret, is not.
func TestConfigFileSecretWarning(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		mode os.FileMode
		want bool
	}{
		{name: "secret, world-readable", text: "max-rooms = 3\njwt-secret = \"s\"\n", mode: 0o644, want: true},
		{name: "api key, group-readable", text: "api-key = [\"k\"]\n", mode: 0o640, want: true},
		{name: "secret, owner only", text: "jwt-secret = \"s\"\n", mode: 0o600},
		{name: "no secret", text: "max-rooms = 3\n", mode: 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfigFile(t, tc.text)
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			c, _, err := loadConfig("serve", []string{"--config", path}, func(string) string { return "" }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(c.warnings) > 0; got != tc.want {
				t.Fatalf("warnings %q", c.warnings)
			}
			if tc.want && !strings.Contains(c.warnings[0], "chmod 600 "+path) {
				t.Errorf("warning %q", c.warnings[0])
			}
		})
	}
}

// TestServeLogsConfigWarning: serve logs the warning once, at WARN.
func TestServeLogsConfigWarning(t *testing.T) {
	path := writeConfigFile(t, "jwt-secret = \""+testSecret+"\"\n")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "", "--config", path)
	s.Stop(t)
	if n := strings.Count(s.logs.String(), "level=WARN msg=config"); n != 1 {
		t.Fatalf("%d warnings logged:\n%s", n, s.logs.String())
	}
}

// TestDataCommandsReadConfig: check, recover, compact, export and import
// open the data directory serve would: --data, else RTBROKER_DATA, else
// the data key of the --config file (or RTBROKER_CONFIG's), else ./data;
// a file serve would refuse is refused with its line.
func TestDataCommandsReadConfig(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := bolt.Open(filepath.Join(dir, dbFile), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), []broker.Entry{{Room: "r", Type: "m", Data: []byte(`1`)}}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	cfg := writeConfigFile(t, fmt.Sprintf("data = %q\nmax-history = 500\n", dir))
	other := filepath.Join(t.TempDir(), "other")
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	cmd := func(getenv func(string) string, args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, getenv, &out, &errOut)
		return out.String() + errOut.String(), err
	}
	for _, tc := range []struct {
		name    string
		getenv  func(string) string
		args    []string
		wantDir string // the directory used: its log, or its absence, is named
	}{
		{"--config", noEnv, []string{"check", "--config", cfg}, dir},
		{"RTBROKER_CONFIG", env(map[string]string{"RTBROKER_CONFIG": cfg}), []string{"check"}, dir},
		{"--data wins over the file", noEnv, []string{"check", "--config", cfg, "--data", other}, other},
		{"RTBROKER_DATA wins over the file", env(map[string]string{"RTBROKER_DATA": other}), []string{"check", "--config", cfg}, other},
		{"compact", noEnv, []string{"compact", "--config", cfg}, dir},
		{"export", noEnv, []string{"export", "--config", cfg, "--out", filepath.Join(t.TempDir(), "x.ndjson")}, ""},
	} {
		out, err := cmd(tc.getenv, tc.args...)
		switch {
		case tc.wantDir == dir && err != nil:
			t.Errorf("%s: %v\n%s", tc.name, err, out)
		case tc.wantDir == dir && !strings.Contains(out, filepath.Join(dir, dbFile)):
			t.Errorf("%s: output does not name %s:\n%s", tc.name, dir, out)
		case tc.wantDir == other && (err == nil || !strings.Contains(err.Error(), other)):
			t.Errorf("%s: err %v, want one naming %s", tc.name, err, other)
		case tc.wantDir == "" && (err != nil || !strings.Contains(out, "1 event")):
			t.Errorf("%s: err %v, output:\n%s", tc.name, err, out)
		}
	}
	bad := writeConfigFile(t, fmt.Sprintf("data = %q\nmax-histroy = 5\n", dir))
	if _, err := cmd(noEnv, "check", "--config", bad); err == nil || !strings.Contains(err.Error(), bad+":2") {
		t.Errorf("a config file with an unknown key: %v, want its line named", err)
	}
}
