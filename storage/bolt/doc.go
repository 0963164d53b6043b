// Package bolt is rtbroker's default, embedded event log: a broker.Log in
// one bbolt file (go.etcd.io/bbolt), a B+tree with copy-on-write
// transactions, one writer at a time and any number of readers.
//
// Every Append is one write transaction, committed with an fsync before
// Append returns, so an acknowledged event survives a crash (the broker
// groups concurrent publishes into one Append, so they share the fsync).
// The transaction writes the events, the log head, the affected rooms'
// metadata and the idempotency keys together: after a crash either all of
// a batch is there or none of it.
//
// Layout. Offsets are stored as 8-byte big-endian keys, so bbolt's byte
// order is offset order and a reader positions itself with a Cursor.Seek,
// never a scan from the oldest event:
//
//	meta                       epoch (made with the file), head, format version
//	rooms/<room>/<offset>      event record: version, time, ULID, type, from, data
//	roommeta/<room>            head, first retained, count retained, trim watermark
//	idem/<room,key>            offset + record of the event an idempotency key names
//	idemtime/<time,room,key>   expiry index, oldest first
//
// Reading several rooms merges their cursors by offset in one read
// transaction, so a Read is a consistent snapshot and its Through never
// claims events that were not visible to it. Rooms reads only roommeta.
// Trim deletes from the front of each room and from the oldest end of the
// expiry index in bounded write transactions. Backup copies the live file
// to any io.Writer.
//
// Memory returned by bbolt is valid only inside its transaction; this
// package copies every key and value it hands out before the transaction
// ends, so callers own all events they receive.
package bolt
