package wire

// Error codes: the "code" of an error object, on every transport.
const (
	CodeInvalid     = "invalid_argument"       // 400: the request is malformed
	CodeTimeout     = "timeout"                // 408: the request body did not arrive in time
	CodeTooLarge    = "too_large"              // 413: a body or an event's data is over its limit
	CodeUnavailable = "unavailable"            // 503: the server is shutting down or cannot serve now
	CodeInternal    = "internal"               // 500: a server failure, never detailed to the client
	CodeNotFound    = "not_found"              // 404: no such route
	CodeMethod      = "method_not_allowed"     // 405: the route does not serve the method
	CodeMediaType   = "unsupported_media_type" // 415: a publish body that is not JSON
	CodeIdempotency = "idempotency_conflict"   // 422: an Idempotency-Key reused for another event
	CodeCanceled    = "canceled"               // 499: the client went away or gave up
	CodeUnauth      = "unauthorized"           // 401: a missing or invalid credential
	CodeForbidden   = "forbidden"              // 403: a valid credential without the permission
	CodeRateLimited = "rate_limited"           // 429: over a rate or connection limit
	CodeConflict    = "conflict"               // 409: the log is not in the state the request needs (an import into a non-empty log)

	// CodeInsufficientStorage (507): the disk under the log is full or
	// read-only; nothing was written, retry later.
	CodeInsufficientStorage = "insufficient_storage"
	// CodeDataCorrupted (500): a read hit a damaged part of the stored
	// log; the message names the offsets that could not be read.
	CodeDataCorrupted = "data_corrupted"
)

// Reset reasons: the "reason" of a reset object.
const (
	// ReasonTrimmed: the events after the requested position were
	// removed by retention.
	ReasonTrimmed = "trimmed"
	// ReasonEpochMismatch: the requested position is from another log
	// (another epoch) or beyond the head.
	ReasonEpochMismatch = "epoch_mismatch"
	// ReasonAlreadyJoined: a Socket.IO socket re-joined a room it is in
	// from before the events already sent to it, which are not resent.
	ReasonAlreadyJoined = "already_joined"
)
