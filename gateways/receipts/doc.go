// Package receipts keeps read positions and answers unread counts for
// every gateway that serves them (the HTTP API's POST
// /api/rooms/{room}/read and GET /api/me/rooms, Socket.IO's room:read and
// me:rooms).
//
// A read position is the offset of the last event a user has read in a
// room. It lives in the broker's keyed state store (broker.PutState), not
// in the log, under "read/<subject>/<room>", only moves forward, never
// expires and survives restarts; moving it sends the room's subscribers an
// ephemeral "receipt" event {user, offset}. An unread count is derived
// from the log and the position (broker.CountAfter): the retained events
// of the room after the position, capped at Config.MaxUnread, so a
// position below the earliest retained event counts retained events only.
// Anonymous identities have no read positions: marking is forbidden, and
// their unread count is every retained event.
package receipts
