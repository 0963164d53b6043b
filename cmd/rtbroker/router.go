package main

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/rtbroker/rtbroker/gateways/httpapi"
)

// routes are the handlers the router mounts; serve builds them.
type routes struct {
	api     *httpapi.Handler
	sse     http.Handler
	poll    http.Handler
	sio     http.Handler
	web     http.Handler
	health  http.HandlerFunc
	metrics http.HandlerFunc
	backup  http.HandlerFunc
}

// newRouter maps URLs to handlers. Unknown routes and methods get the JSON
// error shape every other error has.
func newRouter(h routes) http.Handler {
	r := chi.NewRouter()
	r.NotFound(httpapi.NotFound)
	r.MethodNotAllowed(httpapi.MethodNotAllowed)
	r.Get("/healthz", h.health)
	r.Get("/metrics", h.metrics)
	cors := h.api.CORS // preflights are answered there, before routing by method
	r.Route("/api", func(r chi.Router) {
		r.Use(cors)
		r.Get("/rooms", h.api.Rooms)
		r.Get("/rooms/{room}/events", h.api.History)
		r.Post("/rooms/{room}/events", h.api.Publish)
		r.Get("/backup", h.backup)
	})
	for path, handler := range map[string]http.Handler{"/sse": h.sse, "/poll": h.poll} {
		r.Method(http.MethodGet, path, cors(handler))
		r.Method(http.MethodOptions, path, cors(http.HandlerFunc(httpapi.MethodNotAllowed)))
	}
	// The browser client, where Socket.IO servers serve it.
	r.Get("/socket.io/socket.io.js", serveFile(h.web, "/vendor/socket.io.min.js"))
	r.Get("/socket.io/socket.io.min.js", serveFile(h.web, "/vendor/socket.io.min.js"))
	r.Handle("/socket.io/*", h.sio)
	r.Method(http.MethodGet, "/*", h.web)
	r.Method(http.MethodHead, "/*", h.web)
	return r
}

// serveFile answers with the web handler's file at path.
func serveFile(web http.Handler, path string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path = path
		web.ServeHTTP(w, r2)
	}
}
