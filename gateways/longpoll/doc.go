// Package longpoll serves room events over HTTP long-polling, for clients
// that can use neither WebSocket nor Server-Sent Events.
//
// A client asks GET /poll?room=R[&room=R2…]&after=N[&timeout=25s][&limit=K]
// and gets {"events":[…],"next":N,"epoch":"…"}: the events of its rooms
// after offset N, in offset order. When there are none yet the request is
// held until one is committed or the timeout passes (then events is empty);
// with an expiring token, the timeout is cut to the token's deadline.
// The client passes next as after in its next poll, so paging and
// reconnecting deliver every event exactly once, without gap or duplicate.
// When the requested position cannot be honoured (retention removed events,
// or the position is from another log instance, given as epoch=E) the
// response carries a "reset" object and next continues from the earliest
// retained event: never a silent gap.
//
// Event objects are the broker's cached JSON (broker.Event.JSON), shared by
// every response; a held request costs one goroutine (the handler's own),
// one timer and a subscription, and no buffer. Close releases every held
// request with what it has, so clients poll again (elsewhere, or later).
package longpoll
