// Package wire is the vocabulary every gateway speaks to its clients:
// the error codes, the one table from errors to their wire form
// (Classify), the client-error types a gateway makes when a request is
// wrong (Error, BadRequest, RateLimited, BodyError, ErrBodyTimeout), the
// error object (ErrorBody) and the reset object (Reset).
//
// Each transport encodes these its own way — an HTTP status and a JSON
// body (gateways/internal/httpx), an SSE `event: reset` frame, a
// long-poll or history page's "reset" field, a Socket.IO ack, `reset`
// event or connect_error — but the codes, reasons and field names are
// defined here once, so that a client that speaks to several transports
// reads one vocabulary. A field a transport carries elsewhere in its
// message (the epoch of a long-poll response, the room of a join ack) is
// left empty and then omitted.
//
// The package knows nothing of HTTP headers or Socket.IO packets: it
// names statuses (net/http's constants, which Socket.IO ignores) but
// writes no response. It is internal to gateways/.
package wire
