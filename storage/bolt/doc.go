// Package bolt is rtbroker's default, embedded event log: a broker.Log,
// and the broker.State beside it, in one bbolt file (go.etcd.io/bbolt), a
// B+tree with copy-on-write transactions, one writer at a time and any
// number of readers.
//
// Every Append is one record in the journal beside the file (its path +
// "-journal"), written and fdatasynced before Append returns, so an
// acknowledged event survives a crash (the broker groups concurrent
// publishes into one Append, so they share the fdatasync). The record holds
// the events, the idempotency keys and, for AppendWith and Put, the state
// records: after a crash either all of a batch is there or none of it. The
// checkpointer applies journaled Appends to bbolt later, many in one
// transaction (bbolt commits with two fsyncs and copies every B+tree node
// it touches: per Append, that bounded the Appends a second), and Open
// applies what a crash left in the journal. Until a record is applied its
// events, keys and records are in memory (pending), and reads merge them
// with bbolt. See journal.go.
//
// Layout (format version 4). Offsets are stored as 8-byte big-endian
// keys, so bbolt's byte order is offset order and a reader positions
// itself with a Cursor.Seek, never a scan from the oldest event:
//
//	meta                       epoch (made with the file), head, indexed, format version,
//	                           jseq and jpos (the last journal record applied, the position after it)
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
// Lazy room index. A checkpoint writes the events only at the end of the
// events bucket, and the room index and the room metadata of all its events
// together, so it costs about the same whether its events belong to one
// room or to many. meta.indexed is the highest offset the index covers;
// the checkpointer keeps it equal to the head it applied. Open indexes
// what an older build left unindexed before it applies the journal.
//
// Reading a room takes its offsets up to the indexed offset from its index
// (Cursor.Seek to the starting offset) and the rest from memory, then
// fetches each record from the events bucket, or from memory above the
// indexed offset; several rooms are merged by
// offset; all in one read transaction, so a Read is a consistent snapshot
// and its Through never claims events that were not visible to it (see
// pendingView for why the memory part has no gap or duplicate). Reads
// never return events above the head of returned Appends. Rooms reads
// roommeta and adds the events in memory. Get and Scan take a key's record
// from memory when it is newer than the one the transaction holds (see
// newerThan). Trim applies the journal first, then deletes
// from the front of each room's index and from the events bucket together,
// and from the oldest end of the expiry index, in bounded write
// transactions. Backup applies the journal, then copies the live file to
// any io.Writer.
//
// Memory returned by bbolt is valid only inside its transaction; this
// package copies every key and value it hands out before the transaction
// ends, so callers own all events they receive.
package bolt
