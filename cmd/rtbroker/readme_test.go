package main

// TestReadme makes README.md executable: it runs the README's code blocks,
// top to bottom, against real servers and checks the answers their
// comments document, so an example that stops working fails `make test`.
//
// The convention, for everyone who writes a README example:
//
//   - Every fenced code block is run or checked, by its language:
//     sh, bash, shell: its commands, one by one, with bash (below);
//     js, javascript, mjs: an ES module run by node, which must exit 0;
//     json: must parse. A block in another language, or in none, must be
//     marked.
//   - An HTML comment on the line right before the fence marks a block:
//     <!-- readme-test: skip REASON --> is not run (say why; keep these
//     few: they need another host, a browser, or minutes);
//     <!-- readme-test: file NAME --> is written to NAME in the working
//     directory, for later commands to use (node mint.mjs, --policy
//     policy.json), and not run by itself.
//   - In a shell block a command is a line (with its `\` continuations).
//     The comment lines right under it (no blank line between) are its
//     expected answer. The first may begin with an HTTP status ("# 201
//     {…}", "# 403"): the status of the last response curl got. The other
//     text must be lines of the command's output, in that order (other
//     lines may come between); "…" (or "...") stands for any text within a
//     line, and spaces match any spacing, none included. A
//     comment after a blank line, or at the end of a command's line, is
//     prose. A command without an expected answer must exit 0.
//   - A command whose expected answer has no status may never end (curl
//     -N): it is stopped once its answer has been seen.
//   - localhost:8080 is replaced by the address of the server the block
//     talks to, in commands, answers and files: the test's server (started
//     with no flag, on 127.0.0.1:0, with a fresh data directory), until the
//     block starts its own.
//   - `rtbroker serve … &` (or ./rtbroker, or go run ./cmd/rtbroker;
//     optionally followed by `sleep N`, which a reader needs before the
//     next command and the test does not) starts a server of the block's
//     own, with the block's variables and the flags given plus --addr
//     127.0.0.1:0; the rest of the block talks to it, and it is stopped
//     (SIGTERM) when the block ends or at `kill %1` / `kill $!`, which
//     stop the block's servers only (never the test's). A server the
//     README starts must log no WARN or ERROR line. `go build -o NAME
//     ./cmd/rtbroker` and `go install ./cmd/rtbroker` are answered with the
//     binary the test built (as ./NAME, and as rtbroker on the PATH).
//     Another command ending in `&` runs in the background until the block
//     ends, unchecked.
//   - Commands run in one working directory (a temp dir with the
//     repository's node_modules, so socket.io-client imports), and share
//     variables: every assignment is exported to the following commands and
//     blocks (export RTBROKER_JWT_SECRET=… reaches node mint.mjs and
//     rtbroker serve). curl is the real one, through a wrapper that notes
//     the status (its -w is taken). A command may take 20 s at most.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readmeBlock is one fenced code block of the README.
type readmeBlock struct {
	Line int    // line of the opening fence, 1-based
	Lang string // the fence's info string, lower case ("" for none)
	Mark string // "skip", "file" or "" (from the comment before the fence)
	Arg  string // the mark's argument: the reason, or the file name
	Code string // the block's text, indentation of the fence removed
}

// markRe matches the marking comment before a fence.
var markRe = regexp.MustCompile(`^\s*<!--\s*readme-test:\s*(skip|file)\b\s*(.*?)\s*-->\s*$`)

// parseReadme returns the fenced code blocks of a Markdown text.
func parseReadme(text string) ([]readmeBlock, error) {
	lines := strings.Split(text, "\n")
	var blocks []readmeBlock
	for i := 0; i < len(lines); i++ {
		trim := strings.TrimLeft(lines[i], " ")
		if !strings.HasPrefix(trim, "```") {
			continue
		}
		indent := len(lines[i]) - len(trim)
		b := readmeBlock{Line: i + 1, Lang: strings.ToLower(strings.TrimSpace(strings.TrimPrefix(trim, "```")))}
		if i > 0 {
			if m := markRe.FindStringSubmatch(lines[i-1]); m != nil {
				b.Mark, b.Arg = m[1], m[2]
			}
		}
		var code []string
		closed := false
		for i++; i < len(lines); i++ {
			if strings.TrimSpace(lines[i]) == "```" {
				closed = true
				break
			}
			l := lines[i]
			if len(l)-len(strings.TrimLeft(l, " ")) >= indent {
				l = l[indent:]
			}
			code = append(code, l)
		}
		if !closed {
			return nil, fmt.Errorf("line %d: code block not closed", b.Line)
		}
		b.Code = strings.Join(code, "\n")
		blocks = append(blocks, b)
	}
	return blocks, nil
}

// shellCommand is one command of a shell block and its expected answer.
type shellCommand struct {
	Line   int      // README line of the command
	Text   string   // the command, continuations joined with newlines
	Status string   // expected HTTP status ("" when none)
	Want   []string // expected output lines ("…" is a wildcard)
}

var statusRe = regexp.MustCompile(`^([1-5][0-9][0-9])(?:\s+(.*))?$`)

// parseShell splits a shell block (starting at README line first+1) into
// commands with their expected answers.
func parseShell(code string, first int) []shellCommand {
	lines := strings.Split(code, "\n")
	var cmds []shellCommand
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue // blank, or prose
		}
		c := shellCommand{Line: first + i + 1, Text: l}
		for strings.HasSuffix(strings.TrimRight(l, " "), `\`) && i+1 < len(lines) {
			i++
			l = lines[i]
			c.Text += "\n" + l
		}
		var want []string
		for i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "#") {
			i++
			w := strings.TrimPrefix(strings.TrimSpace(lines[i]), "#")
			want = append(want, strings.TrimPrefix(w, " "))
		}
		if len(want) > 0 {
			if m := statusRe.FindStringSubmatch(want[0]); m != nil {
				c.Status = m[1]
				if m[2] == "" {
					want = want[1:]
				} else {
					want[0] = m[2]
				}
			}
		}
		c.Want = want
		cmds = append(cmds, c)
	}
	return cmds
}

// matchLines reports whether out holds the want lines in order, each a
// whole line ("…" matching any text within it).
func matchLines(out string, want []string) bool {
	lines := strings.Split(strings.ReplaceAll(out, "\r", ""), "\n")
	j := 0
	for _, l := range lines {
		if j == len(want) {
			break
		}
		if lineRe(want[j]).MatchString(l) {
			j++
		}
	}
	return j == len(want)
}

// lineRe turns an expected line into a pattern for a whole output line:
// "…" (or "...") is any text, and a run of spaces any run of spaces,
// including none (so {"ok": true} matches {"ok":true}).
func lineRe(want string) *regexp.Regexp {
	parts := strings.Split(strings.ReplaceAll(want, "...", "…"), "…")
	for i, part := range parts {
		words := spacesRe.Split(part, -1)
		for j, w := range words {
			words[j] = regexp.QuoteMeta(w)
		}
		parts[i] = strings.Join(words, `\s*`)
	}
	return regexp.MustCompile(`^\s*` + strings.Join(parts, `.*?`) + `\s*$`)
}

var spacesRe = regexp.MustCompile(`\s+`)

// Server-starting and build commands the harness answers itself.
var (
	serveRe   = regexp.MustCompile(`^\s*((?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*)(?:\./rtbroker|rtbroker|go run \./cmd/rtbroker)\s+serve\b(.*?)&\s*(?:sleep [0-9.]+\s*)?(?:#.*)?$`)
	killRe    = regexp.MustCompile(`^\s*kill (?:%[0-9]*|\$!)\s*(?:#.*)?$`)
	bgRe      = regexp.MustCompile(`&\s*(?:#.*)?$`)
	buildRe   = regexp.MustCompile(`^\s*go build -o (\S+) \./cmd/rtbroker\s*(?:#.*)?$`)
	installRe = regexp.MustCompile(`^\s*go install \./cmd/rtbroker(?:@\S+)?\s*(?:#.*)?$`)
)

// readmeEnv is where the README's commands run.
type readmeEnv struct {
	t       *testing.T
	bin     string // the rtbroker binary
	work    string // the working directory
	binDir  string // first on PATH: the curl wrapper, rtbroker after go install
	state   string // bash file of exported variables, carried between commands
	env     []string
	files   map[string]string // file blocks, written with the current address
	defAddr string            // the test's server
	addr    string            // the server the current block talks to
	procs   []*readmeProc     // servers and background commands of the block
	fails   []string          // what the current block got wrong
}

// errorf records a difference between the README and what happened.
func (e *readmeEnv) errorf(format string, args ...any) {
	e.fails = append(e.fails, fmt.Sprintf(format, args...))
}

// readmeProc is a process started by a block (a server or a background
// command); it is ended when the block ends.
type readmeProc struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	done   chan struct{}
	server bool
	line   int
}

func TestReadme(t *testing.T) {
	node := readmeTools(t)
	text, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	skipped, total := 0, 0
	runReadme(t, node, string(text), func(t *testing.T, b readmeBlock, fails []string) {
		total++
		if b.Mark == "skip" {
			skipped++
		}
		for _, f := range fails {
			t.Error(f)
		}
	})
	t.Logf("%d blocks, %d marked skip", total, skipped)
	if skipped > 10 {
		t.Errorf("%d README blocks are skipped: keep that list short", skipped)
	}
}

// readmeTools returns node's path once the tools the README uses are there.
func readmeTools(t *testing.T) string {
	requireTool(t, "bash")
	requireTool(t, "curl")
	requireTool(t, "openssl")
	requireFile(t, filepath.Join(repoRoot(t), "node_modules", "socket.io-client", "package.json"), "run `npm ci` at the repository root")
	return requireTool(t, "node")
}

// runReadme runs the blocks of a Markdown text in order, each in a subtest,
// and hands each block's differences from what it documents to check.
func runReadme(t *testing.T, node, text string, check func(t *testing.T, b readmeBlock, fails []string)) {
	blocks, err := parseReadme(text)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := binary()
	if err != nil {
		t.Fatalf("build rtbroker: %v", err)
	}
	e := newReadmeEnv(t, bin)
	e.defAddr = e.startServer(0, fmt.Sprintf("%q serve --data %q", bin, t.TempDir()))
	for _, b := range blocks {
		name := fmt.Sprintf("line%d-%s", b.Line, b.Lang)
		if b.Mark != "" {
			name += "-" + b.Mark
		}
		t.Run(name, func(t *testing.T) {
			e.t, e.fails = t, nil
			defer func() { e.t = nil }()
			switch {
			case b.Mark == "skip":
				if b.Arg == "" {
					e.errorf("README line %d: a skipped block must say why", b.Line)
				}
			case b.Mark == "file":
				if b.Arg == "" || strings.ContainsAny(b.Arg, "/ ") {
					e.errorf("README line %d: file mark needs a plain file name, got %q", b.Line, b.Arg)
				}
				e.files[b.Arg] = b.Code
			case b.Lang == "sh" || b.Lang == "bash" || b.Lang == "shell":
				e.runShell(b)
			case b.Lang == "js" || b.Lang == "javascript" || b.Lang == "mjs":
				e.runNode(node, b)
			case b.Lang == "json":
				if !json.Valid([]byte(b.Code)) {
					e.errorf("README line %d: the json block does not parse", b.Line)
				}
			default:
				e.errorf("README line %d: a %q block is neither run nor marked: mark it <!-- readme-test: skip REASON --> or <!-- readme-test: file NAME -->", b.Line, b.Lang)
			}
			check(t, b, e.fails)
			e.fails = nil
		})
	}
}

func newReadmeEnv(t *testing.T, bin string) *readmeEnv {
	e := &readmeEnv{t: t, bin: bin, work: t.TempDir(), binDir: t.TempDir(), files: map[string]string{}}
	e.state = filepath.Join(t.TempDir(), "state.sh")
	realCurl, _ := exec.LookPath("curl")
	wrapper := "#!/bin/sh\nexec " + shellQuote(realCurl) + " -w '%{stderr}@@status %{http_code}\\n' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(e.binDir, "curl"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(repoRoot(t), "node_modules"), filepath.Join(e.work, "node_modules")); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, envPrefix) || strings.HasPrefix(kv, "PATH=") {
			continue
		}
		e.env = append(e.env, kv)
	}
	e.env = append(e.env, "PATH="+e.binDir+string(os.PathListSeparator)+os.Getenv("PATH"), "READMETEST_STATE="+e.state, "READMETEST_WORK="+e.work)
	t.Cleanup(func() {
		e.endProcs(t, true)
		for _, f := range e.fails {
			t.Error(f)
		}
	})
	return e
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// subst points the README's localhost:8080 at the current server.
func (e *readmeEnv) subst(s string) string { return strings.ReplaceAll(s, "localhost:8080", e.addr) }

// script wraps a command: variables of earlier commands in, its own out.
// The state is replaced by a rename: a command stopped once its answer is
// seen (SIGKILL) may be killed while it saves its variables, and must
// leave the earlier ones whole rather than a truncated file.
func (e *readmeEnv) script(command string) string {
	return scriptIn + command + "\n__rc=$?\nexport -p > \"$READMETEST_STATE.new\" && mv -f \"$READMETEST_STATE.new\" \"$READMETEST_STATE\"\nexit $__rc\n"
}

// scriptIn reads the variables of earlier commands and enters the working
// directory.
const scriptIn = "set -a\n[ -f \"$READMETEST_STATE\" ] && . \"$READMETEST_STATE\"\ncd \"$READMETEST_WORK\" || exit 99\n"

// bgScript wraps a background command: variables in, none out (one that
// ends while the block runs would rewrite the variables under the
// foreground commands, which may read them half-written).
func bgScript(command string) string { return scriptIn + command + "\n" }

// writeFiles writes the file blocks seen so far, pointed at the current server.
func (e *readmeEnv) writeFiles() {
	for name, code := range e.files {
		if err := os.WriteFile(filepath.Join(e.work, name), []byte(e.subst(code)+"\n"), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *readmeEnv) bash(command string) *exec.Cmd { return e.bashScript(e.script(command)) }

func (e *readmeEnv) bashScript(script string) *exec.Cmd {
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = e.env
	cmd.Dir = e.work
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// startServer starts a server (command without its trailing &) and returns
// its address once it listens.
func (e *readmeEnv) startServer(line int, command string) string {
	t := e.t
	t.Helper()
	cmd := e.bash(command + " --addr 127.0.0.1:0")
	p := &readmeProc{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{}), server: true, line: line}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = p.out, io.MultiWriter(pw, p.out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); pw.Close(); close(p.done) }()
	e.procs = append(e.procs, p)
	addr := make(chan string, 1)
	go scanListen(pr, addr)
	select {
	case a := <-addr:
		return a
	case <-p.done:
		t.Fatalf("README line %d: the server exited before listening:\n%s", line, p.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("README line %d: the server did not start:\n%s", line, p.out.String())
	}
	return ""
}

// endProcs stops the block's processes (servers with SIGTERM, so their
// data file is released) and checks the servers' logs; all ends every
// process, the test's server too.
func (e *readmeEnv) endProcs(t testing.TB, all bool) {
	keep := e.procs[:0]
	for i, p := range e.procs {
		if i == 0 && !all && e.defAddr != "" {
			keep = append(keep, p)
			continue
		}
		sig := syscall.SIGKILL
		if p.server {
			sig = syscall.SIGTERM
		}
		syscall.Kill(-p.cmd.Process.Pid, sig)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
			e.errorf("README line %d: the process did not stop on SIGTERM", p.line)
		}
		if p.server {
			for _, l := range strings.Split(p.out.String(), "\n") {
				if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
					e.errorf("README line %d: the server logged: %s", p.line, l)
				}
			}
		}
	}
	e.procs = keep
}

// runShell runs a shell block's commands in order.
func (e *readmeEnv) runShell(b readmeBlock) {
	t := e.t
	e.addr = e.defAddr
	defer func() { e.endProcs(t, false); e.addr = e.defAddr }()
	for _, c := range parseShell(b.Code, b.Line) {
		e.writeFiles()
		if m := buildRe.FindStringSubmatch(c.Text); m != nil {
			dst := filepath.Join(e.work, m[1])
			os.Remove(dst)
			if err := os.Symlink(e.bin, dst); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if installRe.MatchString(c.Text) {
			os.Remove(filepath.Join(e.binDir, "rtbroker"))
			if err := os.Symlink(e.bin, filepath.Join(e.binDir, "rtbroker")); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if killRe.MatchString(c.Text) {
			e.endProcs(t, false) // the block's servers; the test's server stays
			e.addr = e.defAddr
			continue
		}
		if m := serveRe.FindStringSubmatch(c.Text); m != nil {
			e.addr = e.startServer(c.Line, m[1]+shellQuote(e.bin)+" serve"+e.subst(m[2]))
			continue
		}
		if bgRe.MatchString(c.Text) {
			cmd := e.bashScript(bgScript(e.subst(bgRe.ReplaceAllString(c.Text, ""))))
			p := &readmeProc{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{}), line: c.Line}
			cmd.Stdout, cmd.Stderr = p.out, p.out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { cmd.Wait(); close(p.done) }()
			e.procs = append(e.procs, p)
			continue
		}
		e.runCommand(c)
	}
}

// runCommand runs one command and checks its answer.
func (e *readmeEnv) runCommand(c shellCommand) {
	t := e.t
	want := make([]string, len(c.Want))
	for i, w := range c.Want {
		want[i] = e.subst(w)
	}
	cmd := e.bash(e.subst(c.Text))
	var stdout, stderr lockedBuffer
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&stdout, pw), &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); pw.Close() }()
	// A command that may stream is stopped once its answer has been seen.
	seen := make(chan struct{})
	var once sync.Once
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			if c.Status == "" && len(want) > 0 && matchLines(stdout.String(), want) {
				once.Do(func() { close(seen) })
			}
		}
		io.Copy(io.Discard, pr)
	}()
	var err error
	stopped := false
	select {
	case err = <-exited:
	case <-seen:
		stopped = true
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	case <-time.After(20 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		e.errorf("README line %d: `%s` did not end (or show its answer) within 20 s\noutput:\n%s\nstderr:\n%s", c.Line, c.Text, stdout.String(), curlNotes(stderr.String()))
		return
	}
	out := stdout.String()
	status := lastStatus(stderr.String())
	switch {
	case !stopped && err != nil && c.Status == "" && len(want) == 0:
		e.errorf("README line %d: `%s` failed: %v\noutput:\n%s\nstderr:\n%s", c.Line, c.Text, err, out, curlNotes(stderr.String()))
	case c.Status != "" && status != c.Status:
		e.errorf("README line %d: `%s`: HTTP status %q, the README says %s\noutput:\n%s\nstderr:\n%s", c.Line, c.Text, status, c.Status, out, curlNotes(stderr.String()))
	case !matchLines(out, want):
		e.errorf("README line %d: `%s`: the output does not hold the README's answer\nwant (in order):\n%s\noutput:\n%s\nstderr:\n%s", c.Line, c.Text, strings.Join(want, "\n"), out, curlNotes(stderr.String()))
	}
}

var statusNoteRe = regexp.MustCompile(`(?m)^@@status (\d+)$`)

// lastStatus is the status of the last response the curl wrapper noted.
func lastStatus(stderr string) string {
	m := statusNoteRe.FindAllStringSubmatch(stderr, -1)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1][1]
}

// curlNotes is stderr without the wrapper's notes.
func curlNotes(stderr string) string {
	return strings.TrimSpace(statusNoteRe.ReplaceAllString(stderr, ""))
}

// runNode runs a js block as an ES module; it must exit 0.
func (e *readmeEnv) runNode(node string, b readmeBlock) {
	t := e.t
	e.addr = e.defAddr
	e.writeFiles()
	path := filepath.Join(e.work, fmt.Sprintf("readme-line%d.mjs", b.Line))
	if err := os.WriteFile(path, []byte(e.subst(b.Code)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, path)
	cmd.Dir, cmd.Env = e.work, e.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		e.errorf("README line %d: the js block failed under node: %v\n%s", b.Line, err, &out)
	}
}
