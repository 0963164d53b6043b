package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"testing"
)

// The vendored socket.io-client bundle must be the version package-lock.json
// pins, so the UI and the tests use the same client.
func TestVendoredSocketIOClientMatchesLockfile(t *testing.T) {
	b, err := static.ReadFile("static/vendor/socket.io.min.js")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Socket\.IO v(\d+\.\d+\.\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no version banner in the vendored bundle")
	}
	lock, err := os.ReadFile("../package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		Packages map[string]struct{ Version string } `json:"packages"`
	}
	if err := json.Unmarshal(lock, &l); err != nil {
		t.Fatal(err)
	}
	if want := l.Packages["node_modules/socket.io-client"].Version; string(m[1]) != want {
		t.Fatalf("vendored socket.io-client %s, package-lock.json pins %s: copy node_modules/socket.io-client/dist/socket.io.min.js", m[1], want)
	}
}

func TestHandler(t *testing.T) {
	h := Handler(http.NotFoundHandler())
	for path, want := range map[string]int{"/": 200, "/vendor/socket.io.min.js": 200, "/nope.js": 404} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("GET %s = %d, want %d", path, rec.Code, want)
		}
	}
}
