package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// dockerInstruction is one instruction of a Dockerfile.
type dockerInstruction struct {
	Line int
	Cmd  string // upper case: FROM, COPY, …
	Args string
}

// parseDockerfile splits a Dockerfile into instructions: comments and
// blank lines dropped, backslash continuations joined.
func parseDockerfile(t *testing.T, text string) []dockerInstruction {
	t.Helper()
	var out []dockerInstruction
	var cur *dockerInstruction
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == nil && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		cont := strings.HasSuffix(trimmed, "\\")
		trimmed = strings.TrimSuffix(trimmed, "\\")
		if cur == nil {
			cmd, args, _ := strings.Cut(trimmed, " ")
			cur = &dockerInstruction{Line: i + 1, Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)}
		} else if !strings.HasPrefix(trimmed, "#") {
			cur.Args += " " + trimmed
		}
		if !cont {
			out = append(out, *cur)
			cur = nil
		}
	}
	if cur != nil {
		t.Fatalf("Dockerfile:%d: a continuation runs off the end", cur.Line)
	}
	return out
}

// execForm decodes an instruction's JSON (exec) form: ["a", "b"].
func execForm(t *testing.T, in dockerInstruction, args string) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(args), &v); err != nil || len(v) == 0 {
		t.Fatalf("Dockerfile:%d: %s must be in exec form [\"…\"], not %q: %v", in.Line, in.Cmd, args, err)
	}
	return v
}

// TestDockerfile checks the Dockerfile without a Docker engine: every
// instruction is known; two stages, the build one making a static binary
// with the version; COPY sources exist and hold every package the binary
// imports; the image runs as a non-root user with /data a volume it owns,
// exposes the port RTBROKER_ADDR names, its HEALTHCHECK is a command of
// the binary that answers for a running server, and its ENTRYPOINT + CMD
// with its ENV is a valid serve configuration.
func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{"FROM": true, "RUN": true, "CMD": true, "LABEL": true, "EXPOSE": true, "ENV": true, "ADD": true, "COPY": true,
		"ENTRYPOINT": true, "VOLUME": true, "USER": true, "WORKDIR": true, "ARG": true, "ONBUILD": true, "STOPSIGNAL": true, "HEALTHCHECK": true, "SHELL": true}
	stages := map[string]bool{}
	var froms, copied []string
	env := map[string]string{}
	last := map[string]dockerInstruction{} // of the final stage
	for _, in := range parseDockerfile(t, string(b)) {
		if !known[in.Cmd] {
			t.Errorf("Dockerfile:%d: unknown instruction %s", in.Line, in.Cmd)
		}
		fields := strings.Fields(in.Args)
		switch in.Cmd {
		case "FROM":
			froms = append(froms, fields[0])
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				stages[fields[2]] = true
			}
			last = map[string]dockerInstruction{}
			env = map[string]string{}
		case "COPY":
			var from string
			var srcs []string
			for _, f := range fields[:len(fields)-1] {
				if v, ok := strings.CutPrefix(f, "--from="); ok {
					from = v
				} else if !strings.HasPrefix(f, "--") {
					srcs = append(srcs, f)
				}
			}
			if from != "" {
				if !stages[from] {
					t.Errorf("Dockerfile:%d: COPY --from=%s names no earlier stage", in.Line, from)
				}
				continue
			}
			for _, src := range srcs {
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("Dockerfile:%d: COPY source %s: %v", in.Line, src, err)
				}
				copied = append(copied, filepath.Clean(src))
			}
		case "ENV":
			for _, kv := range fields {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		case "RUN":
			if strings.Contains(in.Args, "go build") {
				for _, want := range []string{"CGO_ENABLED=0", "-X main.version=${VERSION}", "./cmd/rtbroker"} {
					if !strings.Contains(in.Args, want) {
						t.Errorf("Dockerfile:%d: the build lacks %s", in.Line, want)
					}
				}
			}
		}
		last[in.Cmd] = in
	}
	if len(froms) < 2 || !stages["build"] {
		t.Fatalf("want a multi-stage build with a stage named build, got FROM %v", froms)
	}

	// The build context holds every package of the module the binary needs.
	list := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./cmd/rtbroker")
	list.Dir = root
	out, err := list.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a module dependency: go mod download
		}
		found := false
		for _, c := range copied {
			if rel == c || strings.HasPrefix(rel, c+string(filepath.Separator)) {
				found = true
			}
		}
		if !found {
			t.Errorf("package directory %s is not copied into the build stage", rel)
		}
	}

	user := strings.Fields(last["USER"].Args)
	if len(user) == 0 || regexp.MustCompile(`^(root|0)(:|$)`).MatchString(user[0]) {
		t.Errorf("USER %q: the image must run as a non-root user", last["USER"].Args)
	}
	if !strings.Contains(last["VOLUME"].Args, `"/data"`) || env["RTBROKER_DATA"] != "/data" {
		t.Errorf("VOLUME %s, RTBROKER_DATA %q: want /data", last["VOLUME"].Args, env["RTBROKER_DATA"])
	}
	uid := strings.Split(user[0], ":")[0]
	if !regexp.MustCompile(`COPY --from=build --chown=` + uid + `:\d+ \S+ /data`).MatchString(string(b)) {
		t.Errorf("/data is not created owned by the image's user %s (a new volume would be root's)", uid)
	}
	_, port, _ := strings.Cut(env["RTBROKER_ADDR"], ":")
	if last["EXPOSE"].Args != port || port != "8080" {
		t.Errorf("EXPOSE %q, RTBROKER_ADDR %q", last["EXPOSE"].Args, env["RTBROKER_ADDR"])
	}
	getenv := func(k string) string { return env[k] }

	// ENTRYPOINT + CMD is serve with a valid configuration.
	entry := append(execForm(t, last["ENTRYPOINT"], last["ENTRYPOINT"].Args), execForm(t, last["CMD"], last["CMD"].Args)...)
	if entry[0] != "/rtbroker" || entry[1] != "serve" {
		t.Fatalf("ENTRYPOINT + CMD = %v, want /rtbroker serve", entry)
	}
	if _, err := parseConfig("serve", entry[2:], getenv, io.Discard); err != nil {
		t.Errorf("the image's serve configuration: %v", err)
	}

	// HEALTHCHECK runs a command of the binary, which passes for a running server.
	hc := last["HEALTHCHECK"]
	_, cmdJSON, ok := strings.Cut(hc.Args, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %q has no CMD", hc.Args)
	}
	check := execForm(t, hc, cmdJSON)
	if check[0] != "/rtbroker" {
		t.Fatalf("HEALTHCHECK runs %s, not the binary", check[0])
	}
	s := startServer(t, "")
	env["RTBROKER_ADDR"] = strings.TrimPrefix(s.URL, "http://")
	var stdout strings.Builder
	if err := run(context.Background(), check[1:], getenv, &stdout, io.Discard); err != nil {
		t.Errorf("HEALTHCHECK %v against a running server: %v", check, err)
	}
	s.Stop(t)
	if err := run(context.Background(), check[1:], getenv, io.Discard, io.Discard); err == nil {
		t.Errorf("HEALTHCHECK %v passes with the server stopped", check)
	}
}

// TestHealthcheck: rtbroker healthcheck succeeds on a 200 from /healthz,
// prints the answer, and fails for an unreachable server and a non-200.
func TestHealthcheck(t *testing.T) {
	s := startServer(t, "")
	var out strings.Builder
	if err := run(context.Background(), []string{"healthcheck", "--url", s.URL + "/healthz"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), `200 {"status":"ok"`) {
		t.Errorf("output %q", out.String())
	}
	var ec interface{ ExitCode() int }
	if err := run(context.Background(), []string{"healthcheck", "--url", s.URL + "/nope"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "404") || !errors.As(err, &ec) || ec.ExitCode() != 1 {
		t.Errorf("a 404 gives %v, want an error exiting 1", err)
	}
	s.Stop(t)
	if err := run(context.Background(), []string{"healthcheck", "--url", s.URL + "/healthz"}, func(string) string { return "" }, io.Discard, io.Discard); !errors.As(err, &ec) || ec.ExitCode() != 1 {
		t.Errorf("a stopped server gives %v, want an error exiting 1", err)
	}
	for _, tc := range []struct{ addr, tls, want string }{
		{addr: ":8080", want: "http://127.0.0.1:8080/healthz"},
		{addr: "0.0.0.0:9000", want: "http://127.0.0.1:9000/healthz"},
		{addr: "[::]:9000", want: "http://127.0.0.1:9000/healthz"},
		{addr: "10.1.2.3:80", tls: "cert.pem", want: "https://10.1.2.3:80/healthz"},
	} {
		got, err := healthURL(&config{Addr: tc.addr, TLSCert: tc.tls})
		if err != nil || got != tc.want {
			t.Errorf("healthURL(%s) = %q, %v; want %q", tc.addr, got, err, tc.want)
		}
	}
}

// TestSystemdUnit: packaging/rtbroker.service sets the sandboxing options,
// runs serve with the config file as a credential, and passes
// systemd-analyze verify (with the binary this test built in place of
// /usr/local/bin/rtbroker) with no warning. In CI a missing
// systemd-analyze fails.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "packaging", "rtbroker.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=rtbroker", "Environment=RTBROKER_DATA=%S/rtbroker", "ProtectSystem=strict",
		"ProtectHome=yes", "NoNewPrivileges=yes", "PrivateTmp=yes", "PrivateDevices=yes", "CapabilityBoundingSet=\n", "RestrictAddressFamilies=",
		"SystemCallFilter=@system-service", "ExecStart=/usr/local/bin/rtbroker serve --config %d/rtbroker.toml", "LoadCredential=rtbroker.toml:",
		"KillSignal=SIGTERM", "LimitNOFILE="} {
		if !strings.Contains(unit, want) {
			t.Errorf("rtbroker.service lacks %q", want)
		}
	}
	analyze := requireTool(t, "systemd-analyze")
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rtbroker.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/rtbroker", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "rtbroker.service") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The exposure score systemd computes from the sandboxing (0 best, 10 worst).
	out, err = exec.Command(analyze, "security", "--offline=true", "--no-pager", path).CombinedOutput()
	if m := regexp.MustCompile(`Overall exposure level for \S+: (\d+\.\d+)`).FindSubmatch(out); err == nil && m != nil {
		if score, _ := strconv.ParseFloat(string(m[1]), 64); score > 2 {
			t.Errorf("systemd-analyze security: exposure %.1f, want at most 2.0\n%s", score, out)
		}
	} else {
		t.Logf("systemd-analyze security --offline unavailable: %v", err)
	}
}

// TestInstallAndVersion: `go install ./cmd/rtbroker` makes a working
// binary, and a build with the Makefile's -ldflags carries the version.
func TestInstallAndVersion(t *testing.T) {
	root := repoRoot(t)
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "LDFLAGS  ?= -X main.version=$(VERSION)") || !strings.Contains(string(mk), `-ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/rtbroker`) ||
		!strings.Contains(string(mk), "git describe --tags --always --dirty") {
		t.Fatal("the Makefile's build no longer passes the version from git describe")
	}
	gobin := t.TempDir()
	install := exec.Command("go", "install", "-ldflags", "-X main.version=v1.2.3-test", "./cmd/rtbroker")
	install.Dir, install.Env = root, append(os.Environ(), "GOBIN="+gobin)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("go install: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(gobin, "rtbroker"), "version").Output()
	if err != nil || !strings.Contains(string(out), "v1.2.3-test") {
		t.Fatalf("rtbroker version: %q, %v", out, err)
	}
}
