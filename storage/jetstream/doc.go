// Package jetstream implements broker.Log and broker.State on NATS
// JetStream, for several rtbroker nodes sharing one replicated log.
//
// The Log is one stream. Each room is one subject, Config.Subject + "." +
// the room's token (see RoomToken: room names are escaped so that `.`,
// a NATS token separator, round-trips), and an event's offset is its
// stream sequence. An Append is one JetStream atomic batch (stream
// setting allow_atomic), so its events commit together with consecutive
// sequences, and the call returns once the stream has acknowledged the
// batch (stored on R replicas, Config.Replicas). Reads of a room use
// batched direct gets filtered by the room's subject from a start
// sequence: other rooms' messages are never read. The epoch is a value
// stored in the stream's metadata when the Log creates the stream; a
// recreated stream gets a new one.
//
// Beside the stream the Log keeps a key-value bucket (Config.Stream +
// "_meta") with what the stream cannot hold: each room's trim watermark
// and the idempotency records (the original event of each
// Idempotency-Key, kept until Trim forgets it).
//
// Several rtbroker nodes share one stream. The Log is a broker.Follower:
// Follow delivers the whole stream, in order, from an ordered consumer,
// so that each node's broker shows every node's events, and watchdogs
// (StallAfter) end a Follow whose consumer went silent while the stream
// is ahead of it, or whose watch of the trim watermarks went silent while
// the bucket holds a newer one (their server died), so that the broker
// follows again; it is also a broker.Relay: ephemeral events travel on core NATS subjects
// (Config.Ephemeral), never stored. Board is the key-value bucket where
// nodes post who is present on each of them, with a heartbeat key per
// node whose per-key TTL bounds how long a dead node's members count.
//
// State is the broker.State on a key-value bucket with per-key expiry
// (nats-server 2.11 or later). It is a store of its own, not a
// broker.StateLog: JetStream commits atomically within one stream only,
// and records in the event stream would take offsets.
//
// The package imports NATS; nothing in broker or storage/bolt imports
// it. The rtbroker binary links it, and the NATS server itself
// (natsnode), so one binary serves both the bbolt default and a cluster.
package jetstream
