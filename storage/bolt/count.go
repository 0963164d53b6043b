package bolt

import (
	"context"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

// CountAfter returns how many retained events of room are above after, at
// most limit; see broker.Log.CountAfter. It reads no event: events above the
// index come from memory (see pendingView); when after is below the room's
// earliest indexed event the room metadata's count answers for the
// indexed ones, and otherwise it walks the room index from after, at most
// limit keys. limit <= 0 is an error wrapping broker.ErrInvalid.
func (l *Log) CountAfter(ctx context.Context, room string, after uint64, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("bolt: count room %q after %d: %w", room, after,
			&broker.ValidationError{Field: "max", Reason: "must be positive"})
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("bolt: count room %q after %d: %w", room, after, err)
	}
	if err := l.acquire("count"); err != nil {
		return 0, err
	}
	defer l.mu.RUnlock()
	v := l.pend.view([]string{room}, false) // before the transaction: see pendingView
	var n int
	err := l.view(0, 0, func(tx *bbolt.Tx) error {
		indexed, err := txIndexed(tx, &v)
		if err != nil {
			return err
		}
		n = len(v.between(room, max(indexed, after), v.head))
		if n >= limit {
			return nil
		}
		indexedN, err := countIndexed(tx, room, after, limit-n)
		n += indexedN
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("bolt: count room %q after %d: %w", room, after, err)
	}
	return min(n, limit), nil
}

// countIndexed counts the indexed events of room above after, at most limit.
func countIndexed(tx *bbolt.Tx, room string, after uint64, limit int) (int, error) {
	v := tx.Bucket(bucketRoomMeta).Get([]byte(room))
	if v == nil {
		return 0, nil
	}
	meta, err := decodeRoomMeta(v)
	if err != nil {
		return 0, fmt.Errorf("room %q: %w", room, err)
	}
	if meta.count == 0 || after >= meta.head {
		return 0, nil
	}
	if after < meta.first {
		return int(min(meta.count, uint64(limit))), nil
	}
	b := tx.Bucket(bucketRooms).Bucket([]byte(room))
	if b == nil {
		return 0, fmt.Errorf("room %q: metadata but no index: %w", room, errCorrupt)
	}
	n := 0
	c := b.Cursor()
	for k, _ := c.Seek(encodeKey(after + 1)); k != nil && n < limit; k, _ = c.Next() {
		n++
	}
	return n, nil
}
