package httpapi

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/rtbroker/rtbroker/gateways/internal/httpx"
)

// maxReadBody caps a POST /api/rooms/{room}/read body: {"offset": N}.
const maxReadBody = 4 << 10

// readBody is the body of POST /api/rooms/{room}/read.
type readBody struct {
	Offset *uint64 `json:"offset"`
}

// MarkRead handles POST /api/rooms/{room}/read with {"offset": N}: it
// moves the caller's read position in the room forward to N (see
// receipts.Service.Mark) and answers 200 {"room","offset","moved"}: the
// position after the call, and whether it moved (a lower or equal offset
// changes nothing and answers the stored position). A move sends the
// room's subscribers the ephemeral event `receipt` {user, offset}.
//
// Errors: 400 invalid_argument (a body that is not {"offset": whole
// number}, or an offset beyond the room's newest event), 401, 403
// forbidden (no history permission on the room, an anonymous caller, or a
// cookie-authenticated request from another site), 404 not_found (a room
// without events).
func (h *Handler) MarkRead(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if err := h.origins.CheckSite(r); err != nil {
		h.writeError(w, r, err)
		return
	}
	id, err := httpx.Identify(h.cfg.Auth, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReadBody))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var rb readBody
	if err := decodeStrict(body, &rb); err != nil {
		h.writeError(w, r, badRequest(`the body must be {"offset": N} with N a whole number`))
		return
	}
	if rb.Offset == nil {
		h.writeError(w, r, badRequest(`the body must be {"offset": N} with N a whole number`))
		return
	}
	m, err := h.receipts.Mark(r.Context(), id, room, *rb.Offset)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out, _ := json.Marshal(m)
	writeJSON(w, http.StatusOK, out)
}

// MyRooms handles GET /api/me/rooms: the rooms the caller may read (the
// history permission), sorted by name, each with its head, the caller's
// read position and its unread count — {"rooms":[{"room","head","read",
// "unread"[,"unread_capped"]}],"truncated"} (see receipts.Service.List).
// An anonymous caller has no read positions: read is 0 and every retained
// event is unread. 401 without a valid credential where one is required.
func (h *Handler) MyRooms(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.Identify(h.cfg.Auth, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	l, err := h.receipts.List(r.Context(), id, "")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out, _ := json.Marshal(l)
	writeJSON(w, http.StatusOK, out)
}
