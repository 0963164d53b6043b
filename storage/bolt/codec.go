package bolt

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rtbroker/rtbroker/broker"
)

// errCorrupt marks bytes in the file that do not decode. It means the file
// was damaged or written by an incompatible version.
var errCorrupt = errors.New("corrupt data")

// keyLen is the length of an event key: a big-endian offset, so that
// bbolt's byte order is offset order and a Cursor.Seek finds an offset.
const keyLen = 8

// appendKey appends the key of offset off to b.
func appendKey(b []byte, off uint64) []byte { return binary.BigEndian.AppendUint64(b, off) }

// encodeKey returns the key of offset off in a new slice.
func encodeKey(off uint64) []byte { return appendKey(make([]byte, 0, keyLen), off) }

// decodeKey returns the offset encoded in k.
func decodeKey(k []byte) (uint64, error) {
	if len(k) != keyLen {
		return 0, fmt.Errorf("event key of %d bytes, want %d: %w", len(k), keyLen, errCorrupt)
	}
	return binary.BigEndian.Uint64(k), nil
}

// recordVersion is the first byte of every event record.
const recordVersion = 2

// recordHeaderLen is the fixed part of a record: version, time and ID.
const recordHeaderLen = 1 + 8 + 16

// appendRecord appends the stored form of e to b: everything but the offset
// (the key). Layout:
//
//	version byte (2)
//	time        8 bytes, big-endian int64 Unix nanoseconds
//	id          16 bytes, the ULID
//	room        uvarint length + bytes
//	type        uvarint length + bytes
//	from        uvarint length + bytes
//	data        uvarint length + bytes
//
// Times outside the years 1678 to 2262 do not fit in int64 nanoseconds and
// are stored clamped.
func appendRecord(b []byte, e *broker.Event) []byte {
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(unixNano(e.Time)))
	b = append(b, e.ID[:]...)
	b = appendBytes(b, e.Room)
	b = appendBytes(b, e.Type)
	b = appendBytes(b, e.From)
	return appendBytes(b, e.Data)
}

// unixNano is t.UnixNano, clamped to the int64 range instead of undefined
// outside it.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// minTime and maxTime bound the times int64 nanoseconds can hold.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// recordSize is len(appendRecord(nil, e)), or a little more.
func recordSize(e *broker.Event) int {
	return recordHeaderLen + 4*binary.MaxVarintLen64 + len(e.Room) + len(e.Type) + len(e.From) + len(e.Data)
}

func appendBytes[T ~string | ~[]byte](b []byte, s T) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeRecord fills e's Time, ID, Room, Type, From and Data from the
// record b. Nothing of e refers to b afterwards, so b may be bbolt memory.
// When e.Room, e.Type or e.From already hold the record's value it is kept
// as is (no allocation: a reader passes the previous event's strings). Empty data decodes as nil. It returns an error wrapping
// errCorrupt, and never panics, when b is not a record.
func decodeRecord(b []byte, e *broker.Event) error {
	room, rest, err := cutHeader(b)
	if err != nil {
		return err
	}
	typ, rest, err := cutBytes(rest, "type")
	if err != nil {
		return err
	}
	from, rest, err := cutBytes(rest, "from")
	if err != nil {
		return err
	}
	data, rest, err := cutBytes(rest, "data")
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("record has %d trailing bytes: %w", len(rest), errCorrupt)
	}
	e.Time = time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9]))).UTC()
	copy(e.ID[:], b[9:recordHeaderLen])
	if string(room) != e.Room {
		e.Room = string(room)
	}
	if string(typ) != e.Type {
		e.Type = string(typ)
	}
	if string(from) != e.From {
		e.From = string(from)
	}
	e.Data = nil
	if len(data) > 0 {
		e.Data = bytes.Clone(data)
	}
	return nil
}

// cutHeader checks the fixed header of the record b and splits the room
// off what follows it.
func cutHeader(b []byte) (room, rest []byte, err error) {
	if len(b) < recordHeaderLen {
		return nil, nil, fmt.Errorf("record of %d bytes is too short: %w", len(b), errCorrupt)
	}
	if b[0] != recordVersion {
		return nil, nil, fmt.Errorf("record version %d, want %d: %w", b[0], recordVersion, errCorrupt)
	}
	return cutBytes(b[recordHeaderLen:], "room")
}

// recordRoom returns the room of the record b without decoding the rest;
// the result is a sub-slice of b.
func recordRoom(b []byte) ([]byte, error) {
	room, _, err := cutHeader(b)
	return room, err
}

// recordTime returns the time of the record b without decoding the rest.
func recordTime(b []byte) (time.Time, error) {
	if len(b) < 1+8 || b[0] != recordVersion {
		return time.Time{}, fmt.Errorf("record header: %w", errCorrupt)
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9]))), nil
}

// cutBytes splits a uvarint-length-prefixed field off the front of b.
func cutBytes(b []byte, field string) (val, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || k != uvarintLen(n) { // canonical encodings only: one record, one byte string
		return nil, nil, fmt.Errorf("record %s length: %w", field, errCorrupt)
	}
	b = b[k:]
	if n > uint64(len(b)) {
		return nil, nil, fmt.Errorf("record %s length %d exceeds the %d bytes left: %w", field, n, len(b), errCorrupt)
	}
	return b[:n], b[n:], nil
}

// uvarintLen is the length of the shortest uvarint encoding of n.
func uvarintLen(n uint64) int {
	size := 1
	for ; n >= 0x80; n >>= 7 {
		size++
	}
	return size
}

// roomMeta is the bookkeeping of one room as far as the index goes (events
// up to meta.indexed), kept up to date in the same transaction as the
// room's index so that Rooms and Read need no scan. Events above the
// indexed offset are added from memory (see pending).
type roomMeta struct {
	head    uint64 // offset of the room's last event, retained or not
	first   uint64 // offset of the earliest retained event, 0 if none
	count   uint64 // retained events
	trimmed uint64 // highest offset removed by retention, 0 if none
}

const roomMetaVersion = 1

// roomMetaLen is the stored size: a version byte and four uint64s.
const roomMetaLen = 1 + 4*8

func (m roomMeta) encode() []byte {
	b := make([]byte, 0, roomMetaLen)
	b = append(b, roomMetaVersion)
	for _, v := range [...]uint64{m.head, m.first, m.count, m.trimmed} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

func decodeRoomMeta(b []byte) (roomMeta, error) {
	if len(b) != roomMetaLen || b[0] != roomMetaVersion {
		return roomMeta{}, fmt.Errorf("room metadata of %d bytes: %w", len(b), errCorrupt)
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(b[1+8*i:]) }
	return roomMeta{head: u(0), first: u(1), count: u(2), trimmed: u(3)}, nil
}

// maxPlainKey is the longest idempotency key stored as is; longer keys are
// stored as their SHA-256, so that no key exceeds bbolt's key size limit.
const maxPlainKey = 256

// idemKey returns the bucket key of idempotency key k in room: the room
// (uvarint length + bytes), then 'k' and the key itself, or 'h' and its
// SHA-256 when it is longer than maxPlainKey. Keys are scoped to their
// room.
func idemKey(room, k string) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(room)+1+min(len(k), sha256.Size))
	b = appendBytes(b, room)
	if len(k) <= maxPlainKey {
		b = append(b, 'k')
		return append(b, k...)
	}
	sum := sha256.Sum256([]byte(k))
	b = append(b, 'h')
	return append(b, sum[:]...)
}

// idemValue is what an idempotency key maps to: the offset of the
// committed event (8 bytes) and its record, so that a retry gets the
// original event even after retention removed it from its room.
func appendIdemValue(b []byte, off uint64, record []byte) []byte {
	b = appendKey(b, off)
	return append(b, record...)
}

// decodeIdemValue returns the event stored under an idempotency key.
func decodeIdemValue(b []byte) (*broker.Event, error) {
	if len(b) < keyLen {
		return nil, fmt.Errorf("idempotency value of %d bytes: %w", len(b), errCorrupt)
	}
	e := &broker.Event{Offset: binary.BigEndian.Uint64(b)}
	if err := decodeRecord(b[keyLen:], e); err != nil {
		return nil, err
	}
	return e, nil
}

// appendTimeKey appends the key of the idempotency expiry index: the time
// as 8 bytes ordered like the int64 Unix nanoseconds (sign bit flipped),
// then the idempotency key, so a cursor from First visits keys oldest
// first.
func appendTimeKey(b []byte, t time.Time, ik []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(unixNano(t))^(1<<63))
	return append(b, ik...)
}

// decodeTimeKey splits an expiry index key into its time and idempotency key.
func decodeTimeKey(b []byte) (time.Time, []byte, error) {
	if len(b) < 8 {
		return time.Time{}, nil, fmt.Errorf("idempotency index key of %d bytes: %w", len(b), errCorrupt)
	}
	ns := int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
	return time.Unix(0, ns), b[8:], nil
}
