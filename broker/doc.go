// Package broker is rtbroker's domain: room events, positions in a log,
// the Log interface that storage backends implement, and the Broker that
// publishes to a Log and serves subscriptions from it.
//
// An Event is committed to a Log before anyone sees it. Every committed event
// gets the next offset of the whole log (1, 2, 3, …); a room's events are a
// subsequence of that order. A Position pairs an offset with the epoch of the
// log it came from, so a position from another log instance is detected.
//
// A Subscription is a cursor over a set of rooms, each at its own position;
// rooms are added (from a position) and removed while it is live. It replays
// what is after the positions (from an in-memory tail of recent events, or
// from the Log when it has fallen further behind), then waits for the next
// commit. There is one code path for replay and live delivery, so a
// subscriber sees each event of its rooms exactly once and in order. A slow subscriber never blocks the
// publisher or other subscribers: nothing is queued per subscriber.
//
// Ephemeral events (typing indicators, cursors, presence) are fanned out to
// current subscribers only; they are never logged and carry no offset.
//
// Several processes may share one log (rtbroker nodes on JetStream). A Log
// that is a Follower delivers what every process commits, and the Broker
// feeds its tail from it in offset order, so each process's subscribers
// see every event once; a Log that is a Relay carries ephemeral events
// between the processes.
//
// What the server knows about its clients (Socket.IO sessions, read
// positions) is not an event: it lives in a State, a keyed store beside the
// log whose records expire (Broker.PutState, GetState, ScanState). Records
// go through the same group commit as events, in the same transaction when
// the Log is also the State (a StateLog), and take no offset.
package broker
