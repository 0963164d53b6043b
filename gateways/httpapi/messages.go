package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/internal/httpx"
	"github.com/rtbroker/rtbroker/gateways/internal/wire"
	"github.com/rtbroker/rtbroker/gateways/limit"
	"github.com/rtbroker/rtbroker/gateways/messages"
)

// Messages handles GET /api/rooms/{room}/messages?after=N&limit=K: the
// room's folded message view (see messages.Service.Page): its current
// messages with offsets above N, oldest first, edits applied (an edited
// message carries "edited": {"id","time","from"}), deleted messages and
// the message:edit and message:delete events left out. The body has
// History's shape, {"events":[…],"next":N,"head":H,"epoch":"…"}, with
// "reset" when retention removed events after N; a page may hold fewer
// than K messages (even none) before next reaches the head.
//
// The request's credential must allow reading the room's history (401
// unauthorized, 403 forbidden otherwise).
func (h *Handler) Messages(w http.ResponseWriter, r *http.Request) {
	room, q, limit, ok := h.readRequest(w, r)
	if !ok {
		return
	}
	after, err := parseAfter(q)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	head := h.b.Head()
	p, err := h.msgs.Page(r.Context(), room, after, limit)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	b := messages.AppendMessages([]byte(`{"events":`), p.Messages)
	b = append(b, `,"next":`...)
	b = strconv.AppendUint(b, max(p.Next, after), 10)
	b = append(b, `,"head":`...)
	b = strconv.AppendUint(b, max(head.Offset, p.Next), 10)
	b = append(b, `,"epoch":`...)
	b = broker.AppendJSONString(b, head.Epoch)
	if p.Trimmed > 0 {
		reset := wire.Reset{Reason: wire.ReasonTrimmed, Requested: after, Resume: p.Trimmed}
		b = append(b, `,"reset":`...)
		b = reset.AppendJSON(b)
	}
	writeJSON(w, http.StatusOK, append(b, "}\n"...))
}

// editBody is the body of an edit.
type editBody struct {
	Data json.RawMessage `json:"data"`
}

// EditMessage handles PATCH /api/rooms/{room}/messages/{id}?offset=N with
// the body {"data": …}: it replaces the data of the message {id} (at
// offset N, from the event's "offset") by logging a message:edit event
// {"id","offset","data"}, and answers 200 with that event. DeleteMessage
// handles DELETE on the same URL (no body): it logs a message:delete event
// {"id","offset"} and answers 200 with it.
//
// Who may (messages.Service.Edit): the credential must allow publishing to
// the room, and be the message's author (its "from"), a token with the
// moderator role, or an API key; anonymous clients may not. Errors: 400
// invalid_argument (a bad id or offset, no data, an id naming an edit or
// a delete), 401, 403 forbidden, 404 not_found (no such message in the
// room, removed by retention, or deleted), 413, 429 (the publish rate).
// A cookie-authenticated change from another site is refused 403 (CSRF).
func (h *Handler) EditMessage(w http.ResponseWriter, r *http.Request) { h.changeMessage(w, r, true) }

// DeleteMessage handles DELETE /api/rooms/{room}/messages/{id}?offset=N;
// see EditMessage.
func (h *Handler) DeleteMessage(w http.ResponseWriter, r *http.Request) {
	h.changeMessage(w, r, false)
}

func (h *Handler) changeMessage(w http.ResponseWriter, r *http.Request, edit bool) {
	room := r.PathValue("room")
	if err := broker.ValidatePublicRoom(room); err != nil {
		h.writeError(w, r, err)
		return
	}
	ref, err := messages.ParseRef(r.PathValue("id"), r.URL.Query().Get("offset"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := h.origins.CheckSite(r); err != nil {
		h.writeError(w, r, err)
		return
	}
	id, err := httpx.Identify(h.cfg.Auth, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if key, limited := limit.PublishKey(id, r.RemoteAddr); limited {
		if ok, wait := h.cfg.PublishLimit.Allow(key); !ok {
			h.writeError(w, r, &wire.RateLimited{Wait: wait})
			return
		}
	}
	var ev *broker.Event
	if edit {
		body, rerr := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodySize))
		if rerr != nil {
			h.writeError(w, r, rerr)
			return
		}
		var eb editBody
		if derr := decodeStrict(body, &eb); derr != nil {
			h.writeError(w, r, derr)
			return
		}
		ev, err = h.msgs.Edit(r.Context(), id, room, ref, eb.Data)
	} else {
		ev, err = h.msgs.Delete(r.Context(), id, room, ref)
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ev.JSON())
}
