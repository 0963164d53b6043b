package web

import (
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

// The history browser and the dashboard, and every file they load, are
// served; their module graphs (followed through relative imports, also
// into ../transports/) resolve; and no module of theirs writes HTML from
// strings (events are rendered as text).
func TestHistoryAndDashboardPageFiles(t *testing.T) {
	h := Handler(http.NotFoundHandler())
	get := func(p string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		return rec
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"#:]+)"`)
	imports := regexp.MustCompile(`from '(\.{1,2}/[a-z/]+\.js)'`)
	htmlSinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|DOMParser`)
	for _, tc := range []struct {
		page    string
		entry   string
		modules int // at least, in the graph from the entry
	}{
		{page: "/history.html", entry: "/history/main.js", modules: 4},
		{page: "/dashboard.html", entry: "/dashboard/main.js", modules: 5},
	} {
		t.Run(tc.page, func(t *testing.T) {
			rec := get(tc.page)
			if rec.Code != 200 {
				t.Fatalf("GET %s = %d", tc.page, rec.Code)
			}
			body := rec.Body.String()
			for _, nav := range []string{`href="/history.html"`, `href="/dashboard.html"`, `href="/transports.html"`, `href="/"`} {
				if !strings.Contains(body, nav) {
					t.Errorf("the navigation lacks %s", nav)
				}
			}
			for _, m := range refs.FindAllStringSubmatch(body, -1) {
				p := "/" + strings.TrimPrefix(m[1], "/")
				if !strings.Contains(p, ".") || strings.HasSuffix(p, ".html") {
					continue // page links
				}
				if r := get(p); r.Code != 200 {
					t.Errorf("GET %s = %d", p, r.Code)
				}
			}
			seen := map[string]bool{tc.entry: true}
			for queue := []string{tc.entry}; len(queue) > 0; queue = queue[1:] {
				p := queue[0]
				r := get(p)
				if r.Code != 200 {
					t.Errorf("module %s: GET = %d", p, r.Code)
					continue
				}
				if loc := htmlSinks.FindString(r.Body.String()); loc != "" && !strings.HasPrefix(p, "/transports/") {
					t.Errorf("module %s uses %s: render text with el/textContent", p, loc)
				}
				for _, im := range imports.FindAllStringSubmatch(r.Body.String(), -1) {
					dep := path.Join(path.Dir(p), im[1])
					if !seen[dep] {
						seen[dep] = true
						queue = append(queue, dep)
					}
				}
			}
			if len(seen) < tc.modules {
				t.Errorf("the module graph from %s has %d modules, want at least %d: %v", tc.entry, len(seen), tc.modules, seen)
			}
		})
	}
}
