// Package web holds rtbroker's browser UI, embedded into the binary. The
// UI is static files (HTML, JS, CSS) that talk to the public HTTP, SSE,
// long-poll and Socket.IO interfaces like any other client.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// Handler serves the UI's files; "/" is index.html. Paths that name no
// file go to notFound.
func Handler(notFound http.Handler) http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// Unreachable: "static" is embedded at build time.
		return notFound
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name == "" {
			name = "."
		}
		if _, err := fs.Stat(sub, name); err != nil {
			notFound.ServeHTTP(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}
