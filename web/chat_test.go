package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The chat page and every file it loads are served, and its module graph
// (chat/main.js and the modules it imports, by relative paths) resolves:
// a missing module fails the whole page. No module of the page assigns
// innerHTML or outerHTML, or calls insertAdjacentHTML or document.write:
// messages are text.
func TestChatPageFiles(t *testing.T) {
	h := Handler(http.NotFoundHandler())
	get := func(p string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		return rec
	}
	page := get("/chat.html")
	if page.Code != 200 {
		t.Fatalf("GET /chat.html = %d", page.Code)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"#:]+)"`).FindAllStringSubmatch(page.Body.String(), -1)
	imports := regexp.MustCompile(`from '(\.{1,2}/[a-z/]+\.js)'`)
	html := regexp.MustCompile(`\.(?:inner|outer)HTML\s*=|insertAdjacentHTML\(|document\.write\(`)
	var entry string
	for _, m := range refs {
		p := "/" + strings.TrimPrefix(m[1], "/")
		if strings.HasPrefix(p, "/socket.io/") || !strings.Contains(p, ".") {
			continue // served by the Socket.IO route; page links
		}
		if rec := get(p); rec.Code != 200 {
			t.Errorf("GET %s = %d", p, rec.Code)
		}
		if strings.HasSuffix(p, ".js") {
			entry = p
		}
	}
	if entry != "/chat/main.js" {
		t.Fatalf("the page's module is %q, want /chat/main.js", entry)
	}
	seen := map[string]bool{entry: true}
	for queue := []string{entry}; len(queue) > 0; queue = queue[1:] {
		rec := get(queue[0])
		if rec.Code != 200 {
			t.Errorf("module %s: GET = %d", queue[0], rec.Code)
			continue
		}
		body := rec.Body.String()
		if loc := html.FindStringIndex(body); loc != nil {
			t.Errorf("module %s uses %s", queue[0], body[loc[0]:loc[1]])
		}
		for _, im := range imports.FindAllStringSubmatch(body, -1) {
			p := path.Join(path.Dir(queue[0]), im[1])
			if !seen[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	for _, want := range []string{"/chat/auth.js", "/chat/messages.js", "/chat/people.js", "/chat/room.js", "/transports/util.js"} {
		if !seen[want] {
			t.Errorf("the module graph from %s lacks %s: %v", entry, want, seen)
		}
	}
}

// Every page links every other page from its navigation, and marks itself
// as the current one.
func TestPagesNavigation(t *testing.T) {
	pages := map[string]string{"/": "index.html", "/transports.html": "transports.html", "/chat.html": "chat.html"}
	for href, file := range pages {
		b, err := static.ReadFile("static/" + file)
		if err != nil {
			t.Fatal(err)
		}
		nav := regexp.MustCompile(`(?s)<nav class="pages"[^>]*>(.*?)</nav>`).FindSubmatch(b)
		if nav == nil {
			t.Errorf("%s: no <nav class=\"pages\">", file)
			continue
		}
		for other := range pages {
			if !strings.Contains(string(nav[1]), `href="`+other+`"`) {
				t.Errorf("%s: the navigation does not link %s", file, other)
			}
		}
		if !strings.Contains(string(nav[1]), `href="`+href+`" aria-current="page"`) {
			t.Errorf("%s: the navigation does not mark %s as the current page", file, href)
		}
	}
}

// The chat page's room model (static/chat/room.js: live events, older
// pages, edits and deletes in either order, receipts) behaves as
// testdata/chat-room.mjs says, run by Node.
func TestChatRoomModel(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node is required in CI: %v", err)
		}
		t.Skipf("node not found: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "testdata/chat-room.mjs", "static/chat/room.js").CombinedOutput()
	if err != nil {
		t.Fatalf("chat-room.mjs: %v\n%s", err, out)
	}
}
