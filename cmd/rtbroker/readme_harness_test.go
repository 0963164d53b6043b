package main

import (
	"strings"
	"testing"
)

// TestReadmeHarness runs the README harness on a small README of its own
// whose blocks are right or wrong on purpose: each wrong one must be
// reported, each right one must pass.
func TestReadmeHarness(t *testing.T) {
	node := readmeTools(t)
	type block struct {
		name, md string
		fails    bool
	}
	blocks := []block{
		{"status and body as documented", "'''sh\ncurl -s localhost:8080/healthz\n# 200 {\"status\":\"ok\",…}\n'''", false},
		{"another status", "'''sh\ncurl -s localhost:8080/healthz\n# 404 {\"status\":\"ok\",…}\n'''", true},
		{"another body", "'''sh\ncurl -s localhost:8080/healthz\n# 200 {\"status\":\"down\",…}\n'''", true},
		{"lines out of order", "'''sh\nprintf 'a\\nb\\n'\n# b\n# a\n'''", true},
		{"lines in order, others between", "'''sh\nprintf 'a\\nx\\nb\\n'\n# a\n# b\n'''", false},
		{"prose after a blank line is not an answer", "'''sh\necho a\n\n# b\n'''", false},
		{"a failing command", "'''sh\nfalse\n'''", true},
		{"a stream stopped once its answer is seen", "'''sh\ncurl -s localhost:8080/api/rooms/h/events -d '{\"type\":\"t\",\"data\":1}'\n# 201\ncurl -N 'localhost:8080/sse?room=h&after=0'\n# event: t\n'''", false},
		{"a stream without its answer", "'''sh\ncurl -N --max-time 1 'localhost:8080/sse?room=h&after=0'\n# event: nope\n'''", true},
		{"variables carried between blocks", "'''sh\nexport GREETING=hello\n'''\n\n'''sh\necho \"$GREETING\"\n# hello\n'''", false},
		{"an unmarked block of another language", "'''python\nprint(1)\n'''", true},
		{"a skipped block without a reason", "<!-- readme-test: skip -->\n'''python\nprint(1)\n'''", true},
		{"a skipped block", "<!-- readme-test: skip not a command -->\n'''\nanything\n'''", false},
		{"a json block that does not parse", "'''json\n{\"a\": }\n'''", true},
		{"a js block that throws", "'''js\nthrow new Error('no')\n'''", true},
		{"a js block that talks to the server", "'''js\nconst r = await fetch('http://localhost:8080/healthz');\nif (r.status !== 200) process.exit(1);\n'''", false},
		{"a file block and a server of the block's own", "<!-- readme-test: file p.json -->\n'''json\n{\"api_keys\": [{\"name\": \"bot\", \"key\": \"k1\"}]}\n'''\n\n'''sh\n./rtbroker serve --policy p.json &\ncurl -s -H 'X-API-Key: k1' localhost:8080/api/rooms/r/events -d '{\"type\":\"t\",\"data\":1}'\n# 201 {…\"from\":\"api:bot\"}\ncurl -s localhost:8080/api/rooms/r/events\n# 401\n'''", false},
		{"kill $! stops the block's server, the test's answers again", "'''sh\n./rtbroker serve --api-key k3 & sleep 1\ncurl -s localhost:8080/api/rooms\n# 401\nkill $!\ncurl -s localhost:8080/api/rooms\n# 200\n'''", false},
		{"a server that warns", "<!-- readme-test: file w.json -->\n'''json\n{\"anonymous\": {\"subscribe\": [\"a\"]}, \"api_keys\": [{\"key\": \"k2\"}]}\n'''\n\n'''sh\n./rtbroker serve --policy w.json &\n'''", true},
	}
	var md []string
	want := map[int]bool{} // block index in the text → fails
	n := 0
	md = append(md, "'''sh\ngo build -o rtbroker ./cmd/rtbroker\n'''")
	n++
	for _, b := range blocks {
		md = append(md, b.md)
		k := strings.Count(b.md, "'''") / 2
		n += k
		want[n-1] = b.fails // the outcome is the last block's
	}
	text := strings.ReplaceAll(strings.Join(md, "\n\n")+"\n", "'''", "```")
	i := 0
	got := map[int][]string{}
	runReadme(t, node, text, func(t *testing.T, b readmeBlock, fails []string) {
		got[i] = fails
		i++
	})
	n = 1
	for _, b := range blocks {
		n += strings.Count(b.md, "'''") / 2
		fails := got[n-1]
		if b.fails && len(fails) == 0 {
			t.Errorf("%s: not reported", b.name)
		}
		if !b.fails && len(fails) > 0 {
			t.Errorf("%s: reported: %s", b.name, strings.Join(fails, "\n"))
		}
	}
}

func TestReadmeLineMatch(t *testing.T) {
	for _, tc := range []struct {
		want, line string
		ok         bool
	}{
		{`{"ok":true,"offset":…}`, `{"ok":true,"offset":5,"id":"x"}`, true},
		{`{"ok": true, "offset": …}`, `{"ok":true,"offset":5}`, true},
		{`{"ok":true,...}`, `{"ok":true,"offset":5}`, true},
		{`{"ok":true}`, `{"ok":true,"offset":5}`, false},
		{`{"ok":false,…}`, `{"ok":true,"offset":5}`, false},
		{`id: 1`, `id: 12`, false},
		{``, ``, true},
		{``, `x`, false},
		{`a.b`, `axb`, false},
	} {
		t.Run(tc.want+" ~ "+tc.line, func(t *testing.T) {
			if got := lineRe(tc.want).MatchString(tc.line); got != tc.ok {
				t.Errorf("lineRe(%q).MatchString(%q) = %v, want %v", tc.want, tc.line, got, tc.ok)
			}
		})
	}
}

// TestReadmeParse checks how shell blocks split into commands and answers.
func TestReadmeParse(t *testing.T) {
	for _, tc := range []struct {
		name, code string
		want       []shellCommand
	}{
		{"status and body", "curl -s x\n# 201 {\"a\":1}", []shellCommand{{Line: 11, Text: "curl -s x", Status: "201", Want: []string{`{"a":1}`}}}},
		{"status alone", "curl -s x\n# 403", []shellCommand{{Line: 11, Text: "curl -s x", Status: "403", Want: []string{}}}},
		{"continuation", "curl -s \\\n  x\n# a", []shellCommand{{Line: 11, Text: "curl -s \\\n  x", Want: []string{"a"}}}},
		{"prose after a blank line", "echo\n\n# prose\necho b", []shellCommand{{Line: 11, Text: "echo"}, {Line: 14, Text: "echo b"}}},
		{"empty answer line", "x\n# a\n#\n# b", []shellCommand{{Line: 11, Text: "x", Want: []string{"a", "", "b"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseShell(tc.code, 10)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d commands %+v, want %+v", len(got), got, tc.want)
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if g.Line != w.Line || g.Text != w.Text || g.Status != w.Status || strings.Join(g.Want, "|") != strings.Join(w.Want, "|") {
					t.Errorf("command %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}
