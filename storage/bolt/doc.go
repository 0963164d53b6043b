// Package bolt is rtbroker's default, embedded event log: a broker.Log,
// and the broker.State beside it, in one bbolt file (go.etcd.io/bbolt), a
// B+tree with copy-on-write transactions, one writer at a time and any
// number of readers.
//
// Every Append is one write transaction, committed with an fsync before
// Append returns, so an acknowledged event survives a crash (the broker
// groups concurrent publishes into one Append, so they share the fsync).
// The transaction writes the events, the log head and the idempotency keys
// together: after a crash either all of a batch is there or none of it.
// AppendWith adds state records to that same transaction.
//
// Layout (format version 3). Offsets are stored as 8-byte big-endian
// keys, so bbolt's byte order is offset order and a reader positions
// itself with a Cursor.Seek, never a scan from the oldest event:
//
//	meta                       epoch (made with the file), head, indexed, format version
//	events/<offset>            event record: version, time, ULID, room, type, from, data
//	rooms/<room>/<offset>      the room index: empty values
//	roommeta/<room>            head, first retained, count retained, trim watermark
//	idem/<room,key>            offset + record of the event an idempotency key names
//	idemtime/<time,room,key>   expiry index, oldest first
//	state/<key>                state record: 8-byte expiry code (0: never) + value
//	statetime/<expiry,key>     expiry index of the records that expire, soonest first
//
// State records are not events: Trim never touches the state buckets,
// and Open never reads them (Get and Scan look keys up when asked). Expire
// deletes from the front of statetime and from state together, in bounded
// write transactions like Trim's. Open migrates a file of format 2, whose
// log still held gateways' internal rooms (Socket.IO sessions), in place:
// see migrate.go.
//
// Lazy room index. Append writes only at the end of the events bucket, so
// a commit costs the same whether its events belong to one room or to many
// (with a bucket per room, copy-on-write rewrote every touched room's
// pages on every commit). The room index and the room metadata are
// derived data, written by the Log's indexer goroutine in large batches:
// when Options.IndexBatch events are unindexed, every
// Options.IndexInterval, before Trim and on Close. meta.indexed is the
// highest offset the index covers, written in the indexer's transaction.
// The unindexed suffix lives in memory, per room the list of its offsets,
// and Open rebuilds it from the events above meta.indexed, so a crash
// before indexing loses nothing.
//
// Reading a room takes its offsets up to the indexed offset from its index
// (Cursor.Seek to the starting offset) and the rest from memory, then
// fetches each record from the events bucket; several rooms are merged by
// offset; all in one read transaction, so a Read is a consistent snapshot
// and its Through never claims events that were not visible to it (see
// pendingView for why the memory part has no gap or duplicate). Reads
// never return events above the head of returned Appends. Rooms reads
// roommeta and adds the events in memory. Trim indexes first, then deletes
// from the front of each room's index and from the events bucket together,
// and from the oldest end of the expiry index, in bounded write
// transactions. Backup copies the live file to any io.Writer.
//
// Memory returned by bbolt is valid only inside its transaction; this
// package copies every key and value it hands out before the transaction
// ends, so callers own all events they receive.
package bolt
