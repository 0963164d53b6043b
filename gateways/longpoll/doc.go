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
// every response. Close releases every held request with what it has, so
// clients poll again (elsewhere, or later).
//
// Cost model: a poll that must wait, over HTTP/1.1 (no TLS, Linux), is
// taken from net/http (hijacked) and becomes a task of the Handler's pump
// pool, woken by its subscription, by one deadline scheduler for every
// held poll (its timeout or token deadline, Close) and by an epoll poller
// that sees the client hang up (the poll is then dropped at once, as on a
// request goroutine). The answer is the same as on a request goroutine;
// with Config.Requeue (rtbroker serves through a listener that takes
// connections back) the connection then returns to the HTTP server for
// the client's next poll, else the answer carries Connection: close.
// A held poll thus holds no goroutine, no timer and no buffer: about
// 2.5 KB of process memory, against 28 KB on net/http's goroutines
// (BenchmarkIdlePoll). Polls over HTTP/2 or TLS wait on their request's
// goroutine.
package longpoll
