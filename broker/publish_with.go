package broker

import (
	"bytes"
	"context"
	"fmt"
)

// PublishWith is Publish that commits state records derived from the
// event with it: recs is called once, before anything is queued, with the
// entry the event will be committed from (its ID, Time and compacted Data
// are final; its offset is not known yet), and the records it returns are
// queued in the same request as the event. When the Log is the State (a
// StateLog, as bbolt and the memory log are) the event and the records are
// committed in one transaction: both are durable or neither is. With a
// State of its own the records are put right before the event's batch is
// appended, so a failed Append may leave the records durable without the
// event (the returned error says the publish failed).
//
// It is how a projection kept in the State (the folded message view) stays
// exactly in step with the events it is derived from. recs may return
// nil; the records are validated as PutState validates them (an error
// wrapping ErrInvalid; nothing is queued) and copied. It fails with
// Publish's errors, and with ErrNoState when records are given and there
// is no State. m.IdempotencyKey is refused: a replayed publish would not
// write its records again.
func (b *Broker) PublishWith(ctx context.Context, m Message, recs func(Entry) []Record) (*Event, error) {
	if m.IdempotencyKey != "" {
		return nil, invalid("idempotency key", "not supported with state records")
	}
	req, _, err := b.prepare([]Message{m})
	if err != nil {
		return nil, err
	}
	if recs != nil {
		if rs := recs(req.entries[0]); len(rs) > 0 {
			if b.state == nil {
				return nil, fmt.Errorf("publish with state: %w", ErrNoState)
			}
			if err := ValidateRecords(rs); err != nil {
				return nil, fmt.Errorf("publish with state: %w", err)
			}
			own := make([]Record, len(rs))
			for i, r := range rs {
				if r.Value != nil {
					r.Value = bytes.Clone(r.Value)
				}
				own[i] = r
			}
			req.recs = &own
		}
	}
	if err := b.enqueue(ctx, req); err != nil {
		return nil, err
	}
	select {
	case <-req.done:
		if req.err != nil {
			return nil, req.err
		}
		return req.events[0], nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
