// Package httpapi serves the broker's REST interface: publishing events to
// a room, reading a room's history by offset (forwards and backwards), and
// listing rooms. Every response body is JSON; errors are
// {"error":{"code","message"}} with a matching HTTP status.
//
// Routes (mounted by cmd/rtbroker; the handlers read the {room} path value):
//
//	POST /api/rooms/{room}/events   publish one event, or a JSON array of them
//	GET  /api/rooms/{room}/events   history: ?after=N&limit=K or ?before=N&limit=K
//	GET  /api/rooms                 rooms with head offset and event count
package httpapi
