// Package messages is the edit and delete feature every gateway shares:
// message:edit and message:delete are logged events that reference an
// earlier event of the same room by its id and offset, and the folded
// message view of a room is the log with edits applied and deletions
// removed.
//
// A change (an edit or a delete) is checked and committed by Service:
// the referenced event is found with one seek on the room's index (the
// request carries the event's offset beside its id, and the id must match
// the event found there), the caller must be its author or hold the
// moderator role (or be an API key), and the change event is committed
// together with a state record in the broker's keyed store (one
// transaction with the bbolt log: broker.Broker.PublishWith). The
// records, one per changed message under "msg/<room>/<offset>", are the
// projection the folded view reads: a page of the room is read from the
// log and each event looked up there, so a page never re-reads the room.
// Changes of one room are serialised, so the record of the change with
// the later offset is the one kept. The projection is derived from the
// log and can be rebuilt from it (Service.Rebuild; rtbroker serve does
// it at start when it has never been built, or with --rebuild-messages).
//
// The package knows nothing of HTTP or Socket.IO: the REST API and the
// Socket.IO gateway decode requests and encode answers around it.
package messages
