package main

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/conns"
	"github.com/rtbroker/rtbroker/gateways/httpapi"
)

// The admin API's bounds.
const (
	adminDefaultLimit = 100   // rows of a listing when ?limit is not given
	adminMaxLimit     = 1000  // the largest ?limit
	adminLagLimit     = 10000 // a connection's lag is counted up to this many events per room
	adminMaxBody      = 4 << 10
)

// connSource is a gateway whose open connections the admin API lists and
// disconnects: *sse.Handler, *longpoll.Handler, *socketio.Gateway. The
// gateways do not know each other; cmd hands their registries here.
type connSource interface {
	Connections() *conns.Registry
}

// adminAPI serves /api/admin/…: rooms, connections, disconnecting one,
// trimming a room. Every route is behind guard (httpapi.AdminOnly): an
// admin API key or a token with the admin role.
type adminAPI struct {
	b         *broker.Broker
	api       *httpapi.Handler // errors in the one wire form
	retention broker.Retention
	sources   []connSource
	// writeTimeout bounds the write of an answer (--write-timeout): a
	// client that does not read a long listing is cut off.
	writeTimeout time.Duration
}

// newAdminAPI returns the admin router of b, to mount at /api/admin: its
// errors and its guard (AdminOnly) are api's, its connections those of
// the gateways.
func newAdminAPI(b *broker.Broker, api *httpapi.Handler, writeTimeout time.Duration, gateways ...connSource) http.Handler {
	a := &adminAPI{b: b, api: api, retention: b.Config().Retention, sources: gateways, writeTimeout: writeTimeout}
	return a.routes(api.AdminOnly)
}

// routes returns the admin router, to mount at /api/admin.
func (a *adminAPI) routes(guard func(http.HandlerFunc) http.HandlerFunc) http.Handler {
	r := chi.NewRouter()
	r.NotFound(httpapi.NotFound)
	r.MethodNotAllowed(httpapi.MethodNotAllowed)
	r.Get("/rooms", guard(a.rooms))
	r.Post("/rooms/{room}/trim", guard(a.trim))
	r.Get("/connections", guard(a.connections))
	r.Delete("/connections/{id}", guard(a.disconnect))
	return r
}

// adminRoom is a row of GET /api/admin/rooms.
type adminRoom struct {
	broker.RoomInfo
	Retention   adminRetention `json:"retention"`
	Subscribers map[string]int `json:"subscribers"` // by transport
}

// adminRetention is the retention that applies to a room: the pattern of
// the first matching rule ("" for the default), its limits (0: none).
type adminRetention struct {
	Rule          string `json:"rule"`
	MaxAgeSeconds int64  `json:"max_age_seconds"`
	MaxCount      int    `json:"max_count"`
}

// rooms handles GET /api/admin/rooms[?after=NAME][&limit=N]: the log's
// rooms sorted by name, after the name `after`, at most limit (default
// 100, at most 1000) — {"rooms":[{room, head, first, count, trimmed,
// retention:{rule, max_age_seconds, max_count}, subscribers:{sse,
// longpoll, socketio}}], "next"}; next is the name to pass as after for
// the following page, absent on the last.
func (a *adminAPI) rooms(w http.ResponseWriter, r *http.Request) {
	limit, err := adminLimit(r)
	if err != nil {
		a.api.WriteError(w, r, err)
		return
	}
	all, err := a.b.Rooms(r.Context())
	if err != nil {
		a.api.WriteError(w, r, err)
		return
	}
	after := r.URL.Query().Get("after")
	i, _ := slices.BinarySearchFunc(all, after, func(ri broker.RoomInfo, name string) int { return strings.Compare(ri.Name, name) })
	if i < len(all) && all[i].Name == after {
		i++
	}
	page := all[i:min(len(all), i+limit)]
	subs := a.subscribers()
	out := struct {
		Rooms []adminRoom `json:"rooms"`
		Next  string      `json:"next,omitempty"`
	}{Rooms: make([]adminRoom, 0, len(page))}
	for _, ri := range page {
		row := adminRoom{RoomInfo: ri, Retention: a.retentionOf(ri.Name), Subscribers: map[string]int{}}
		for _, src := range a.sources {
			t := src.Connections().Transport()
			row.Subscribers[t] = subs[t][ri.Name]
		}
		out.Rooms = append(out.Rooms, row)
	}
	if i+limit < len(all) && len(page) > 0 {
		out.Next = page[len(page)-1].Name
	}
	a.writeJSON(w, http.StatusOK, out)
}

// retentionOf returns the retention that applies to room.
func (a *adminAPI) retentionOf(room string) adminRetention {
	rt := a.retention.For(room)
	out := adminRetention{MaxAgeSeconds: int64(rt.MaxAge.Seconds()), MaxCount: rt.MaxCount}
	for _, rule := range a.retention.Rules {
		if rule.Match(room) {
			out.Rule = rule.Pattern
			break
		}
	}
	return out
}

// subscribers counts the open connections of each transport by room.
func (a *adminAPI) subscribers() map[string]map[string]int {
	out := make(map[string]map[string]int, len(a.sources))
	for _, src := range a.sources {
		reg := src.Connections()
		m := make(map[string]int)
		for _, e := range reg.Snapshot() {
			for _, room := range e.Rooms() {
				m[room]++
			}
		}
		out[reg.Transport()] = m
	}
	return out
}

// connections handles GET /api/admin/connections[?transport=T][&room=R]
// [&offset=K][&limit=N]: the open connections, oldest first, filtered by
// transport and by room, from the K-th on, at most N (default 100, at
// most 1000) — {"connections":[{id, transport, engine?, namespace?, user,
// rooms, lag, remote, since}], "total", "next_offset"?}. lag is the
// events of its rooms the connection has still to be sent, counted up to
// 10,000 per room (-1 when the log could not count them); total counts
// the connections that match; next_offset is absent on the last page.
func (a *adminAPI) connections(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := adminLimit(r)
	if err != nil {
		a.api.WriteError(w, r, err)
		return
	}
	offset, err := adminInt(q.Get("offset"), "offset", 0, 1<<31)
	if err != nil {
		a.api.WriteError(w, r, err)
		return
	}
	transport, room := q.Get("transport"), q.Get("room")
	var all []*conns.Entry
	known := transport == ""
	for _, src := range a.sources {
		reg := src.Connections()
		if transport != "" && reg.Transport() != transport {
			continue
		}
		known = true
		for _, e := range reg.Snapshot() {
			if room == "" || slices.Contains(e.Rooms(), room) {
				all = append(all, e)
			}
		}
	}
	if !known {
		a.api.WriteError(w, r, httpapi.BadRequest("transport must be sse, longpoll or socketio"))
		return
	}
	slices.SortStableFunc(all, func(x, y *conns.Entry) int { return cmp.Compare(x.Since().UnixNano(), y.Since().UnixNano()) })
	out := struct {
		Connections []conns.Info `json:"connections"`
		Total       int          `json:"total"`
		NextOffset  int          `json:"next_offset,omitempty"`
	}{Connections: []conns.Info{}, Total: len(all)}
	start := min(offset, len(all))
	end := min(len(all), start+limit)
	for _, e := range all[start:end] {
		out.Connections = append(out.Connections, e.Info(r.Context(), adminLagLimit))
	}
	if end < len(all) {
		out.NextOffset = end
	}
	a.writeJSON(w, http.StatusOK, out)
}

// disconnect handles DELETE /api/admin/connections/{id}: the connection
// is ended the transport's normal way, as at shutdown (an SSE stream gets
// a short retry hint, a held poll its answer, a Socket.IO socket's
// Engine.IO connection is closed), so the client reconnects and resumes
// where it was — {"id", "transport", "disconnected": true}; 404 not_found
// for an id that is not (or no longer) connected.
func (a *adminAPI) disconnect(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	for _, src := range a.sources {
		if e := src.Connections().Get(id); e != nil {
			e.Disconnect()
			a.writeJSON(w, http.StatusOK, map[string]any{"id": id, "transport": e.Transport(), "disconnected": true})
			return
		}
	}
	a.api.WriteError(w, r, httpapi.NotFoundError("no connection "+strconv.Quote(id)))
}

// trimRequest is the body of POST /api/admin/rooms/{room}/trim.
type trimRequest struct {
	Before *uint64 `json:"before"`
	Keep   *int    `json:"keep"`
}

// trim handles POST /api/admin/rooms/{room}/trim with {"before": N}
// (remove the room's events with offsets below N) or {"keep": N} (keep
// its newest N), or both: {"room", "removed", "head", "first", "count",
// "trimmed"} — the room after the trim. Subscribers that later ask for a
// removed position are told with the usual reset (reason trimmed) and
// resume at the earliest retained event. 400 invalid_argument for a bad
// room name or body.
func (a *adminAPI) trim(w http.ResponseWriter, r *http.Request) {
	room := chi.URLParam(r, "room")
	var req trimRequest
	if err := httpapi.DecodeBody(w, r, adminMaxBody, &req); err != nil {
		a.api.WriteError(w, r, err)
		return
	}
	const usage = `the body must be {"before": N} (an offset above 0) and/or {"keep": N} (at least 0)`
	if req.Before == nil && req.Keep == nil || req.Before != nil && *req.Before == 0 || req.Keep != nil && *req.Keep < 0 {
		a.api.WriteError(w, r, httpapi.BadRequest(usage))
		return
	}
	var before uint64
	keep := 0
	if req.Before != nil {
		before = *req.Before
	}
	if req.Keep != nil {
		if keep = *req.Keep; keep == 0 {
			before = max(before, a.b.Head().Offset+1) // keep none: everything committed so far goes
		}
	}
	n, err := a.b.TrimRoom(r.Context(), room, before, keep)
	if err != nil {
		a.api.WriteError(w, r, err)
		return
	}
	out := struct {
		broker.RoomInfo
		Removed int `json:"removed"`
	}{RoomInfo: broker.RoomInfo{Name: room}, Removed: n}
	if rooms, err := a.b.Rooms(r.Context()); err == nil {
		if i, ok := slices.BinarySearchFunc(rooms, room, func(ri broker.RoomInfo, name string) int { return strings.Compare(ri.Name, name) }); ok {
			out.RoomInfo = rooms[i]
		}
	}
	a.writeJSON(w, http.StatusOK, out)
}

// adminLimit reads ?limit (default adminDefaultLimit, 1…adminMaxLimit).
func adminLimit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return adminDefaultLimit, nil
	}
	return adminInt(s, "limit", 1, adminMaxLimit)
}

// adminInt parses a query parameter that must be a whole number in
// [lo, hi]; "" is lo.
func adminInt(s, name string, lo, hi int) (int, error) {
	if s == "" {
		return lo, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, httpapi.BadRequest(name + " must be a whole number from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi))
	}
	return n, nil
}

// writeJSON writes v as the JSON body of a response with status, within
// the write timeout.
func (a *adminAPI) writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v) // the admin API's own types: they always encode
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	// ErrNotSupported (a ResponseWriter without deadlines) is fine.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(a.writeTimeout))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
