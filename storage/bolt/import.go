package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

var _ broker.Importer = (*Log)(nil)

// Import writes evs at the offsets they carry, with every other field
// (id, room, type, data, time, sender) as given, in one write transaction
// fsynced before it returns, and moves the head to the last offset; see
// broker.Importer. It is how an export is loaded back (rtbroker import)
// and how Salvage writes what it read.
//
// The offsets must ascend strictly (gaps are allowed: the events of rooms
// left out, or removed by retention, before the export) and the first
// must be above the head, checked while Appends wait: otherwise it
// fails with an error wrapping broker.ErrConflict and writes nothing. An
// event with no offset, a bad room or type name or data that is not JSON
// fails the call with an error wrapping broker.ErrInvalid before anything
// is written. No idempotency key is recorded. It applies the journal
// first, and writes the events and their room index in one transaction,
// without the journal (Appends wait meanwhile). evs are not kept.
func (l *Log) Import(ctx context.Context, evs []*broker.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if err := validateImport(evs); err != nil {
		return fmt.Errorf("bolt: import: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bolt: import: %w", err)
	}
	if err := l.restore(evs); err != nil {
		return fmt.Errorf("bolt: import: %w", err)
	}
	return nil
}

// validateImport checks what Import promises to refuse before writing.
func validateImport(evs []*broker.Event) error {
	var prev uint64
	for i, ev := range evs {
		switch {
		case ev.Offset == 0:
			return fmt.Errorf("event %d: %w", i, &broker.ValidationError{Field: "offset", Reason: "missing (0)"})
		case ev.Offset <= prev:
			return fmt.Errorf("event %d: %w", i, &broker.ValidationError{Field: "offset",
				Reason: fmt.Sprintf("%d after %d: offsets must ascend", ev.Offset, prev)})
		}
		prev = ev.Offset
		if err := broker.ValidateRoom(ev.Room); err != nil {
			return fmt.Errorf("event %d (offset %d): %w", i, ev.Offset, err)
		}
		if err := broker.ValidateType(ev.Type); err != nil {
			return fmt.Errorf("event %d (offset %d): %w", i, ev.Offset, err)
		}
		if len(ev.Data) > 0 && !json.Valid(ev.Data) {
			return fmt.Errorf("event %d (offset %d): %w", i, ev.Offset, &broker.ValidationError{Field: "data", Reason: "not valid JSON"})
		}
	}
	return nil
}

// restore writes evs, in ascending offset order and above the head, with
// their own offsets, and their room index, and moves the head to the
// last, once the journal is applied. A first offset at or below the head
// fails with broker.ErrConflict.
func (l *Log) restore(evs []*broker.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if err := l.acquire("import"); err != nil {
		return err
	}
	defer l.mu.RUnlock()
	// Apply the journal first, and keep Appends out until the imported
	// events are in bbolt, indexed: nothing of them goes through pending.
	l.cmu.Lock()
	defer l.cmu.Unlock()
	for {
		if err := l.checkpointLocked(nil); err != nil {
			return err
		}
		l.wmu.Lock()
		if len(l.jq) == 0 {
			break
		}
		l.wmu.Unlock()
	}
	defer l.wmu.Unlock()
	head := evs[len(evs)-1].Offset
	if cur := l.head.Load(); evs[0].Offset <= cur {
		return fmt.Errorf("offset %d is not above the log's head %d: %w", evs[0].Offset, cur, broker.ErrConflict)
	}
	from := l.pend.indexedOffset()
	rooms := make(map[string][]uint64)
	for _, ev := range evs {
		rooms[ev.Room] = append(rooms[ev.Room], ev.Offset)
	}
	err := l.update(evs[0].Offset, head, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		b.FillPercent = appendFillPercent
		for _, ev := range evs {
			if err := b.Put(encodeKey(ev.Offset), appendRecord(nil, ev)); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketMeta).Put(keyHead, encodeKey(head)); err != nil {
			return err
		}
		return writeIndex(tx, from, head, rooms)
	})
	if err != nil {
		return err
	}
	l.pend.imported(head)
	l.head.Store(head)
	return nil
}
