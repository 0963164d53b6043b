package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/gateways/auth"
	"github.com/rtbroker/rtbroker/gateways/internal/httpx"
	"github.com/rtbroker/rtbroker/gateways/presence"
)

// Presence handles GET /api/rooms/{room}/presence: who is in the room now
// over every transport, 200 {"room", "count", "anonymous", "listed",
// "members": [{"user", "connections", "since", "transports"}]}. count is
// the users present; anonymous connections are only counted; above the
// registry's MaxList users, listed is false and members is absent (counts
// only). The credential needs the presence permission on the room (401
// unauthorized, 403 forbidden otherwise); a bad room name is 400. Without
// Config.Presence every room is empty.
func (h *Handler) Presence(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if err := broker.ValidatePublicRoom(room); err != nil {
		h.writeError(w, r, err)
		return
	}
	if _, err := httpx.Authorize(h.cfg.Auth, r, auth.Presence, room); err != nil {
		h.writeError(w, r, err)
		return
	}
	snap := presence.Snapshot{Room: room, Listed: true, Members: []presence.Member{}}
	if h.cfg.Presence != nil {
		snap = h.cfg.Presence.Snapshot(room)
	}
	body, err := json.Marshal(snap)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, append(body, '\n'))
}
