// Package defaults holds the defaults that several gateways share because
// they mean the same thing in each, so that each has one source: every
// gateway exports it again under its own name (sse.DefaultMaxRooms,
// engineio.DefaultWriteTimeout, …) for its documentation and for the
// command's flags, and uses that name in its setDefaults.
package defaults

import "time"

// MaxRooms is how many rooms one client may follow at once: the rooms of
// one SSE or long-poll request, or the rooms one Socket.IO socket has
// joined. 32 covers an app's own rooms (a user's inbox, a few
// conversations, presence) while keeping a request's subscription and its
// permission checks small; an app that needs more raises --max-rooms.
const MaxRooms = 32

// WriteTimeout is how long a write to a streaming client (an SSE stream,
// a long-poll response, a WebSocket) may block before the client is
// dropped as not reading.
const WriteTimeout = 10 * time.Second
