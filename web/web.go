// Package web holds rtbroker's browser UI, embedded into the binary. The
// UI is static files (HTML, JS, CSS) that talk to the public HTTP, SSE,
// long-poll and Socket.IO interfaces like any other client.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the UI's files; "/" is index.html.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// Unreachable: "static" is embedded at build time.
		return http.NotFoundHandler()
	}
	return http.FileServerFS(sub)
}
