package messages

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rtbroker/rtbroker/broker"
)

// Event types of changes. They are logged like any event and delivered to
// subscribers like any event; only Service may log them (the generic
// publish paths refuse them: see CheckPublishType).
const (
	// EditType is the type of an edit event; its data is
	// {"id": original id, "offset": original offset, "data": new data}.
	EditType = "message:edit"
	// DeleteType is the type of a delete event; its data is
	// {"id": original id, "offset": original offset}.
	DeleteType = "message:delete"
)

// IsChangeType reports whether typ is EditType or DeleteType.
func IsChangeType(typ string) bool { return typ == EditType || typ == DeleteType }

// CheckPublishType refuses the change types on a generic publish path
// (POST /api/rooms/{room}/events, a Socket.IO event published under its
// name): a change must go through Service, which checks who may make it
// and keeps the folded view in step. The error is a 400 invalid_argument.
func CheckPublishType(typ string) error {
	if IsChangeType(typ) {
		return badRequest(fmt.Sprintf("event type %q is an edit or delete: use the messages API (see README, Edit and delete)", typ))
	}
	return nil
}

// Record key layout in the broker's State.
const (
	recordPrefix = "msg/"          // + room + "/" + 20-digit offset of the changed message
	builtKey     = "msgmeta/built" // present once the projection has been built from the log
)

// roomPrefix is the prefix of the records of room's changed messages.
func roomPrefix(room string) string { return recordPrefix + room + "/" }

// recordKey is the key of the record of the message at offset in room.
// The offset is zero-padded so that keys sort by offset.
func recordKey(room string, offset uint64) string {
	b := make([]byte, 0, len(recordPrefix)+len(room)+21)
	b = append(b, roomPrefix(room)...)
	s := strconv.FormatUint(offset, 10)
	for i := len(s); i < 20; i++ {
		b = append(b, '0')
	}
	return string(append(b, s...))
}

// Op names a change in a record.
const (
	opEdit   = "edit"
	opDelete = "delete"
)

// change is the state record of a changed message: the latest change (the
// one with the highest offset), or the delete, which is final.
type change struct {
	Op   string          `json:"op"`   // opEdit or opDelete
	Of   ulid.ULID       `json:"of"`   // the changed message's id (checked on read)
	ID   ulid.ULID       `json:"id"`   // the change event's id
	Time time.Time       `json:"time"` // the change event's time
	From string          `json:"from"` // who made the change
	Data json.RawMessage `json:"data,omitempty"`
}

// record returns c as the state record of the message at offset in room.
func (c *change) record(room string, offset uint64) broker.Record {
	v, _ := json.Marshal(c) // cannot fail: Data is valid JSON
	return broker.Record{Key: recordKey(room, offset), Value: v}
}

// decodeChange decodes a record's value.
func decodeChange(v []byte) (*change, error) {
	c := &change{}
	if err := json.Unmarshal(v, c); err != nil {
		return nil, fmt.Errorf("decode message change record: %w", err)
	}
	if c.Op != opEdit && c.Op != opDelete {
		return nil, fmt.Errorf("decode message change record: unknown op %q", c.Op)
	}
	return c, nil
}

// ref is the data of a change event: the message it changes.
type ref struct {
	ID     ulid.ULID       `json:"id"`
	Offset uint64          `json:"offset"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// changeData is the data of a change event of the message (id, offset):
// with data for an edit, without for a delete.
func changeData(id ulid.ULID, offset uint64, data json.RawMessage) json.RawMessage {
	b := []byte(`{"id":"`)
	b = broker.AppendID(b, id)
	b = append(b, `","offset":`...)
	b = strconv.AppendUint(b, offset, 10)
	if data != nil {
		b = append(b, `,"data":`...)
		b = append(b, data...)
	}
	return append(b, '}')
}
