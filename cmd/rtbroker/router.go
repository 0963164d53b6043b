package main

import (
	"net/http"
	"strings"

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
	ready   http.HandlerFunc // /readyz: 503 while degraded
	metrics http.HandlerFunc
	backup  http.HandlerFunc // /api/backup; /api/admin/backup is in admin
	admin   http.Handler     // /api/admin/… (admin.go, admin_dump.go), guarded there
}

// newRouter maps URLs to handlers. Unknown routes and methods get the JSON
// error shape every other error has.
func newRouter(h routes) http.Handler {
	r := chi.NewRouter()
	r.Use(routeDecoded)
	r.NotFound(httpapi.NotFound)
	r.MethodNotAllowed(httpapi.MethodNotAllowed)
	getHead(r, "/healthz", h.health) // HEAD: Go's server drops the body
	if h.ready != nil {
		getHead(r, "/readyz", h.ready)
	}
	if h.metrics != nil {
		getHead(r, "/metrics", h.metrics)
	}
	cors := h.api.CORS // preflights are answered there, before routing by method
	r.Route("/api", func(r chi.Router) {
		r.Use(cors)
		r.Get("/rooms", h.api.Rooms)
		r.Get("/rooms/{room}/events", h.api.History)
		r.Post("/rooms/{room}/events", h.api.Publish)
		r.Post("/rooms/{room}/read", h.api.MarkRead)
		r.Get("/me/rooms", h.api.MyRooms)
		r.Get("/rooms/{room}/presence", h.api.Presence)
		r.Get("/rooms/{room}/messages", h.api.Messages)
		r.Patch("/rooms/{room}/messages/{id}", h.api.EditMessage)
		r.Delete("/rooms/{room}/messages/{id}", h.api.DeleteMessage)
		r.Get("/backup", h.backup)
		r.Get("/openapi.json", openAPIHandler())
		if h.admin != nil {
			r.Mount("/admin", h.admin)
		}
	})
	for path, handler := range map[string]http.Handler{"/sse": h.sse, "/poll": h.poll} {
		r.Method(http.MethodGet, path, cors(handler))
		r.Method(http.MethodHead, path, cors(http.HandlerFunc(streamHead)))
		r.Method(http.MethodOptions, path, cors(http.HandlerFunc(httpapi.MethodNotAllowed)))
	}
	// The browser client, where Socket.IO servers serve it.
	getHead(r, "/socket.io/socket.io.js", serveFile(h.web, "/vendor/socket.io.min.js"))
	getHead(r, "/socket.io/socket.io.min.js", serveFile(h.web, "/vendor/socket.io.min.js"))
	r.Handle("/socket.io/*", h.sio)
	r.Method(http.MethodGet, "/*", h.web)
	r.Method(http.MethodHead, "/*", h.web)
	return &fastRouter{Mux: r, publish: cors(http.HandlerFunc(h.api.Publish))}
}

// fastRouter is the chi router (its routes are walked as chi.Routes) that
// serves POST /api/rooms/{room}/events with publish, the same handler
// and CORS chi routes there, without going through chi: the hottest route
// skips the router's per-request context, route pattern and subrouter
// path (a fifth of a publish's allocations), and sets no path value
// (Publish takes the room from the path). Every other request, and any
// publish path that is not plainly /api/rooms/ROOM/events (an empty room,
// a room with a '/': httpapi.PublishPath), goes to chi, which routes it
// as before. A middleware added to the /api routes must be added to
// publish too.
type fastRouter struct {
	*chi.Mux
	publish http.Handler
}

func (f *fastRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		if _, ok := httpapi.PublishPath(r.URL.Path); ok {
			r.URL.RawPath = ""        // as routeDecoded: the decoded path is the route
			f.publish.ServeHTTP(w, r) // Publish takes the room from the path: no SetPathValue
			return
		}
	}
	f.Mux.ServeHTTP(w, r)
}

// frontRoute picks the requests the front serves before net/http: a
// publish to a room whose name needs no escape (fastRouter's route), and
// a WebSocket handshake of the Socket.IO endpoint.
func frontRoute(method, path string, h http.Header) bool {
	switch method {
	case http.MethodPost:
		_, ok := httpapi.PublishPath(path)
		return ok && strings.IndexByte(path, '%') < 0
	case http.MethodGet:
		return path == "/socket.io/" && len(h["Upgrade"]) == 1 && strings.EqualFold(h["Upgrade"][0], "websocket")
	}
	return false
}

// routeDecoded makes the router match, and hand to handlers, the decoded
// path: chi routes on the escaped path when a request has one, so a room
// sent as encodeURIComponent writes it (chat%3Ageneral) reached handlers
// still escaped and was refused. A path with an escaped '/' keeps routing
// on the escaped form, so "a%2Fb" stays one segment and its handler
// answers 400 naming the character rather than a 404 for "a/b".
func routeDecoded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(strings.ToUpper(r.URL.RawPath), "%2F") {
			r.URL.RawPath = ""
		}
		next.ServeHTTP(w, r)
	})
}

// serveFile answers with the web handler's file at path.
func serveFile(web http.Handler, path string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path = path
		web.ServeHTTP(w, r2)
	}
}

// getHead routes GET and HEAD of path to h.
func getHead(r chi.Router, path string, h http.HandlerFunc) {
	r.Get(path, h)
	r.Head(path, h)
}

// streamHead answers HEAD on a stream endpoint (/sse, /poll) with the
// headers of a stream, without opening one: a stream is not held for a
// request that reads no body.
func streamHead(w http.ResponseWriter, r *http.Request) {
	ct := "application/json"
	if r.URL.Path == "/sse" {
		ct = "text/event-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
