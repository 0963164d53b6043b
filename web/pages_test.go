package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// The transports page and every file it loads are served; its own modules
// import only files that exist (a missing module fails the whole page).
func TestTransportsPageFiles(t *testing.T) {
	h := Handler(http.NotFoundHandler())
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}
	page := get("/transports.html")
	if page.Code != 200 {
		t.Fatalf("GET /transports.html = %d", page.Code)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"#:]+)"`).FindAllStringSubmatch(page.Body.String(), -1)
	imports := regexp.MustCompile(`from '\./([a-z]+\.js)'`)
	for _, m := range refs {
		path := "/" + strings.TrimPrefix(m[1], "/")
		if strings.HasPrefix(path, "/socket.io/") || !strings.Contains(path, ".") {
			continue // served by the Socket.IO route; page links
		}
		t.Run(path, func(t *testing.T) {
			rec := get(path)
			if rec.Code != 200 {
				t.Fatalf("GET %s = %d", path, rec.Code)
			}
			if !strings.HasPrefix(path, "/transports/") {
				return
			}
			// Follow the module graph from the entry module.
			seen := map[string]bool{path: true}
			for queue := []string{rec.Body.String()}; len(queue) > 0; queue = queue[1:] {
				for _, im := range imports.FindAllStringSubmatch(queue[0], -1) {
					p := "/transports/" + im[1]
					if seen[p] {
						continue
					}
					seen[p] = true
					r := get(p)
					if r.Code != 200 {
						t.Errorf("module %s: GET = %d", p, r.Code)
						continue
					}
					queue = append(queue, r.Body.String())
				}
			}
			if len(seen) < 5 {
				t.Errorf("the module graph from %s has %d modules, want the page's 5: %v", path, len(seen), seen)
			}
		})
	}
}
