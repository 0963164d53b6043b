package socketio

// Outcomes of a client's connection state recovery (the pid and offset of
// its CONNECT), indexes of Gateway.recoveries and recoveryReasons.
const (
	noRecovery       = iota // the client did not ask (no pid): not counted as a refusal
	recovered               // its session was restored
	refusedUnknown          // no such session: never saved, expired, of another namespace
	refusedEpoch            // the session belongs to another log (a restored backup, a recovered log)
	refusedOffset           // the offset token is malformed or beyond the head
	refusedTrimmed          // retention removed events the session needed
	refusedForbidden        // the identity may no longer subscribe to every room of it
	refusedError            // the session store or the log failed
	retryLater              // the session store or the log cannot answer now: the connection is closed, the client reconnects and asks again
)

// recoveryReasons name the outcomes: "" for noRecovery, "recovered", and
// the reasons of the refusals.
var recoveryReasons = [...]string{"", "recovered", "unknown_session", "epoch_mismatch", "bad_offset", "trimmed", "forbidden", "error", "unavailable"}

// Recoveries returns how many connection state recoveries were asked for
// since the start (CONNECTs with a pid), by outcome: "recovered", or the
// reason of the refusal ("unknown_session", "epoch_mismatch",
// "bad_offset", "trimmed", "forbidden", "error"), or "unavailable". A
// refused client gets a new session (socket.recovered === false); an
// unavailable one (the session store or the log could not answer in
// time: a cluster electing a leader) has its connection closed, and
// socket.io-client reconnects and asks again. Safe for concurrent use; for
// metrics.
func (g *Gateway) Recoveries() map[string]int64 {
	out := make(map[string]int64, len(recoveryReasons)-1)
	for i := recovered; i < len(recoveryReasons); i++ {
		out[recoveryReasons[i]] = g.recoveries[i].Load()
	}
	return out
}
