package httpapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/internal/httpx"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
)

// History handles GET /api/rooms/{room}/events.
//
//	?after=N&limit=K   events with offsets above N (default 0), oldest first;
//	                   "next" is the `after` of the following page
//	?before=N&limit=K  the newest events below N (0 or absent: the head),
//	                   oldest first; "prev" is the `before` of the page
//	                   further back (0 when there is none)
//
// The body is {"events":[…],"next":N,"prev":P,"head":H,"epoch":"…"}; a room
// that never had an event has an empty history, not an error. When events
// after N (N > 0) were removed by retention, or epoch=E names another log,
// the page starts at the earliest retained event and carries
// "reset":{"reason","requested","resume"}. after=0 asks for everything
// retained and reports no trim, as SSE and long-poll do.
//
// The request's credential must allow reading the room's history (401
// unauthorized, 403 forbidden otherwise).
func (h *Handler) History(w http.ResponseWriter, r *http.Request) {
	room, q, limit, ok := h.readRequest(w, r)
	if !ok {
		return
	}
	head := h.b.Head()
	if q.Has("before") {
		if q.Has("after") {
			h.writeError(w, r, badRequest("use either after or before, not both"))
			return
		}
		h.historyBefore(w, r, room, q.Get("before"), limit, head)
		return
	}
	after, err := parseAfter(q)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var reset *wire.Reset
	requested := after
	if e := q.Get("epoch"); after > 0 && (e != "" && e != head.Epoch || after > head.Offset && !h.b.HeadAtLeast(r.Context(), after)) {
		reset = &wire.Reset{Reason: wire.ReasonEpochMismatch, Requested: requested}
		after = 0
	}
	res, err := h.b.History(r.Context(), room, after, limit)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	// On a cluster node, History caught up with the log: a later head.
	head = h.b.Head()
	if res.Trimmed > 0 && (reset != nil || requested > 0) { // after=0 asks for everything retained: nothing to report
		if reset == nil {
			reset = &wire.Reset{Reason: wire.ReasonTrimmed, Requested: requested}
		}
		reset.Resume = res.Trimmed
	}
	var prev uint64
	if len(res.Events) > 0 {
		prev = res.Events[0].Offset
	}
	writeJSON(w, http.StatusOK, appendPage(res.Events, res.Through, prev, head, reset))
}

func (h *Handler) historyBefore(w http.ResponseWriter, r *http.Request, room, beforeStr string, limit int, head broker.Position) {
	var before uint64
	if beforeStr != "" {
		var err error
		if before, err = broker.ParseOffset(beforeStr); err != nil {
			h.writeError(w, r, badRequest("before: "+err.Error()))
			return
		}
	}
	evs, err := h.b.HistoryBefore(r.Context(), room, before, limit)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var prev, next uint64
	if len(evs) > 0 {
		next = evs[len(evs)-1].Offset
		if len(evs) == limit {
			prev = evs[0].Offset
		}
	} else if before > 0 {
		next = before - 1
	}
	head = h.b.Head() // on a cluster node, HistoryBefore caught up with the log
	writeJSON(w, http.StatusOK, appendPage(evs, next, prev, head, nil))
}

func appendPage(evs []*broker.Event, next, prev uint64, head broker.Position, reset *wire.Reset) []byte {
	b := appendEvents(nil, `{"events":`, evs, `,"next":`)
	b = strconv.AppendUint(b, next, 10)
	b = append(b, `,"prev":`...)
	b = strconv.AppendUint(b, prev, 10)
	b = append(b, `,"head":`...)
	b = strconv.AppendUint(b, head.Offset, 10)
	b = append(b, `,"epoch":`...)
	b = broker.AppendJSONString(b, head.Epoch)
	if reset != nil {
		b = append(b, `,"reset":`...)
		b = reset.AppendJSON(b)
	}
	return append(b, "}\n"...)
}

func parseLimit(s string, def, max int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, badRequest("limit must be a whole number from 1 to " + strconv.Itoa(max))
	}
	return n, nil
}

// Rooms handles GET /api/rooms: {"rooms":[{"room","head","first","count","trimmed"}…],"head":H,"epoch":"…"}.
// Internal rooms (gateway state) are not listed, nor rooms whose history
// the request's credential may not read (so that room names do not leak).
func (h *Handler) Rooms(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.Identify(h.cfg.Auth, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	rooms, err := h.b.Rooms(r.Context())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	head := h.b.Head()
	b := []byte(`{"rooms":[`)
	first := true
	for _, ri := range rooms {
		if broker.IsInternalRoom(ri.Name) || !id.Can(auth.History, ri.Name) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"room":`...)
		b = broker.AppendJSONString(b, ri.Name)
		for _, f := range [...]struct {
			k string
			v uint64
		}{{"head", ri.Head}, {"first", ri.First}, {"count", ri.Count}, {"trimmed", ri.Trimmed}} {
			b = append(b, `,"`...)
			b = append(b, f.k...)
			b = append(b, `":`...)
			b = strconv.AppendUint(b, f.v, 10)
		}
		b = append(b, '}')
	}
	b = append(b, `],"head":`...)
	b = strconv.AppendUint(b, head.Offset, 10)
	b = append(b, `,"epoch":`...)
	b = broker.AppendJSONString(b, head.Epoch)
	writeJSON(w, http.StatusOK, append(b, "}\n"...))
}

// readRequest checks a read of the room named in r's path (its name and
// the credential's history permission) and parses its limit; on failure
// it answers w and reports false.
func (h *Handler) readRequest(w http.ResponseWriter, r *http.Request) (room string, q url.Values, limit int, ok bool) {
	room = r.PathValue("room")
	if err := broker.ValidatePublicRoom(room); err != nil {
		h.writeError(w, r, err)
		return "", nil, 0, false
	}
	if _, err := httpx.Authorize(h.cfg.Auth, r, auth.History, room); err != nil {
		h.writeError(w, r, err)
		return "", nil, 0, false
	}
	q = r.URL.Query()
	limit, err := parseLimit(q.Get("limit"), h.cfg.DefaultLimit, h.cfg.MaxLimit)
	if err != nil {
		h.writeError(w, r, err)
		return "", nil, 0, false
	}
	return room, q, limit, true
}

// parseAfter reads the query's `after` offset (0 when absent).
func parseAfter(q url.Values) (uint64, error) {
	if !q.Has("after") {
		return 0, nil
	}
	after, err := broker.ParseOffset(q.Get("after"))
	if err != nil {
		return 0, badRequest("after: " + err.Error())
	}
	return after, nil
}
