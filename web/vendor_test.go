package web

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// lockedVersion returns the version package-lock.json pins for an npm
// package.
func lockedVersion(t *testing.T, pkg string) string {
	t.Helper()
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
	v := l.Packages["node_modules/"+pkg].Version
	if v == "" {
		t.Fatalf("package-lock.json pins no %s", pkg)
	}
	return v
}

// The vendored uPlot files (the transports page's charts) must be byte for
// byte the ones of the uplot package package-lock.json pins, as `npm ci`
// installs it into node_modules: this fails when either the lock file or
// the copy under static/vendor moved without the other. It needs `npm ci`
// at the repository root (CI runs it; see requireNodeModule).
func TestVendoredUPlotMatchesLockfile(t *testing.T) {
	want := lockedVersion(t, "uplot")
	dir := filepath.Join("..", "node_modules", "uplot")
	requireNodeModule(t, dir)
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	if pkg.Version != want {
		t.Fatalf("node_modules/uplot is %s, package-lock.json pins %s: run `npm ci`", pkg.Version, want)
	}
	for _, tc := range []struct{ vendored, dist string }{
		{vendored: "static/vendor/uplot.iife.min.js", dist: "dist/uPlot.iife.min.js"},
		{vendored: "static/vendor/uplot.min.css", dist: "dist/uPlot.min.css"},
	} {
		t.Run(tc.dist, func(t *testing.T) {
			got, err := static.ReadFile(tc.vendored)
			if err != nil {
				t.Fatal(err)
			}
			exp, err := os.ReadFile(filepath.Join(dir, tc.dist))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, exp) {
				t.Fatalf("web/%s differs from node_modules/uplot/%s (uplot %s): copy it again", tc.vendored, tc.dist, want)
			}
		})
	}
}

// requireNodeModule fails in CI (CI=true) and skips elsewhere when an npm
// package is not installed.
func requireNodeModule(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (run `npm ci`): %v", dir, err)
		}
		t.Skipf("%s not installed (run `npm ci` at the repository root): %v", dir, err)
	}
}
