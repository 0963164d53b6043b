package broker

import (
	"context"
	"errors"
	"fmt"
)

// Importer is a Log that can write events at the offsets they already
// have: loading an export back (rtbroker import). storage/bolt implements
// it; a Log that does not cannot be imported into while it serves.
type Importer interface {
	// Import writes evs, whose offsets ascend strictly (gaps allowed) and
	// are all above Head, with every field as given, in one transaction,
	// durably, and moves the head to the last offset. A first offset at
	// or below the head fails with an error wrapping ErrConflict, a bad
	// event (no offset, a bad room or type name, data that is not JSON)
	// with one wrapping ErrInvalid; nothing is written then. No
	// idempotency key is recorded. The Log keeps evs: the caller must not
	// modify them afterwards.
	Import(ctx context.Context, evs []*Event) error
}

// Import writes evs through the broker at the offsets they carry (see
// Importer): it waits until every publish queued before it is committed
// and keeps new publishes waiting (Publish and Enqueue block, as on a
// full queue) while the Log writes evs, then makes them visible to
// subscribers as it does published events. It fails with an error
// wrapping errors.ErrUnsupported when the Log is not an Importer,
// ErrClosed after Close, and the Log's error otherwise (ErrConflict when
// the first offset is not above the head). The broker keeps evs, which
// become shared committed events: the caller must not modify them.
func (b *Broker) Import(ctx context.Context, evs []*Event) error {
	imp, ok := b.log.(Importer)
	if !ok {
		return fmt.Errorf("import: the log cannot write given offsets: %w", errors.ErrUnsupported)
	}
	if len(evs) == 0 {
		return nil
	}
	b.pubMu.Lock() // no new request reaches the writer meanwhile
	defer b.pubMu.Unlock()
	if b.pubClosed {
		return fmt.Errorf("import: %w", ErrClosed)
	}
	// A request with nothing to write is a barrier: the writer answers it
	// once everything queued before it is committed and visible.
	barrier := &publishReq{done: make(chan struct{})}
	b.reqs <- barrier
	<-barrier.done
	if err := imp.Import(ctx, evs); err != nil {
		return fmt.Errorf("import %d events: %w", len(evs), err)
	}
	b.mu.Lock()
	notify := b.tail.add(evs, nil)
	b.mu.Unlock()
	for _, s := range notify {
		s.notify()
	}
	return nil
}
