package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

// The Log's broker.State: records in the state bucket of the same file,
// key → expiry code + value, and the statetime index, expiry code + key →
// empty, holding the records that expire, soonest first. Put keeps the two
// in step in one transaction; Expire walks the index from its start.

// expiryLen is the length of an expiry code.
const expiryLen = 8

// expiryCode encodes a record's expiry so that byte order is time order: 0
// for "never", otherwise the Unix nanoseconds (clamped like event times)
// with the sign bit flipped, and at least 1.
func expiryCode(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return max(uint64(unixNano(t))^(1<<63), 1)
}

// expiryTime decodes an expiry code.
func expiryTime(code uint64) time.Time {
	if code == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(code^(1<<63))).UTC()
}

// appendStateTimeKey appends the statetime key of a record: its expiry
// code, then its key.
func appendStateTimeKey(b []byte, code uint64, key []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, code)
	return append(b, key...)
}

// decodeStateValue splits a stored state value into its expiry code and
// value; v may be bbolt memory, and so is the value returned.
func decodeStateValue(v []byte) (uint64, []byte, error) {
	if len(v) < expiryLen {
		return 0, nil, fmt.Errorf("state value of %d bytes: %w", len(v), errCorrupt)
	}
	return binary.BigEndian.Uint64(v), v[expiryLen:], nil
}

// decodeRecord returns the record stored under key k with value v, copied
// out of bbolt memory; live reports whether it is returned at now.
func decodeStateRecord(k, v []byte, now time.Time) (r broker.Record, live bool, err error) {
	code, val, err := decodeStateValue(v)
	if err != nil {
		return broker.Record{}, false, fmt.Errorf("state key %q: %w", k, err)
	}
	r = broker.Record{Key: string(k), Expires: expiryTime(code)}
	if !r.Live(now) {
		return broker.Record{}, false, nil
	}
	r.Value = append(make([]byte, 0, len(val)), val...) // non-nil, also when empty
	return r, true, nil
}

// putRecords writes validated recs in tx, in order: each replaces (or,
// with a nil Value, deletes) its key and its expiry index entry.
func putRecords(tx *bbolt.Tx, recs []broker.Record) error {
	state, stime := tx.Bucket(bucketState), tx.Bucket(bucketStateTime)
	size := 0
	for i := range recs {
		size += 3*(expiryLen+len(recs[i].Key)) + len(recs[i].Value)
	}
	buf := kvBuffer(make([]byte, 0, size))
	var code [expiryLen]byte
	cur := state.Cursor()
	atEnd := true // every new key goes at the end of its run (see runEnd)
	for i := range recs {
		r := &recs[i]
		key := kvAdd(&buf, nil, r.Key)
		var old []byte
		if k, v := cur.Seek(key); bytes.Equal(k, key) {
			old = v
		} else if r.Value != nil && atEnd {
			atEnd = runEnd(key, k, cur)
		}
		if old != nil {
			oldCode, _, err := decodeStateValue(old)
			if err != nil {
				return fmt.Errorf("state key %q: %w", r.Key, err)
			}
			if oldCode != 0 {
				binary.BigEndian.PutUint64(code[:], oldCode)
				if err := stime.Delete(kvAdd(&buf, code[:], r.Key)); err != nil {
					return fmt.Errorf("state key %q: expiry index: %w", r.Key, err)
				}
			}
		}
		if r.Value == nil {
			if err := state.Delete(key); err != nil {
				return fmt.Errorf("delete state key %q: %w", r.Key, err)
			}
			continue
		}
		c := expiryCode(r.Expires)
		binary.BigEndian.PutUint64(code[:], c)
		if err := state.Put(key, kvAdd(&buf, code[:], r.Value)); err != nil {
			return fmt.Errorf("put state key %q: %w", r.Key, err)
		}
		if c != 0 {
			if err := stime.Put(kvAdd(&buf, code[:], r.Key), emptyValue); err != nil {
				return fmt.Errorf("state key %q: expiry index: %w", r.Key, err)
			}
		}
	}
	// The expiry index is written in time order (a record expires a fixed
	// window after its write), and so are keys made in time order, such
	// as Socket.IO session records'. Split in half at the end of such a
	// run, a page stays half empty for good. Other keys keep bbolt's even
	// split, which suits inserts anywhere.
	stime.FillPercent = appendFillPercent
	if atEnd {
		state.FillPercent = stateFillPercent
	}
	return nil
}

// stateFillPercent is how full bbolt fills the state bucket's pages in a
// transaction whose new keys all go at the end of their runs: nearly
// full, with room for the records just written to grow in place (a
// session record grows when its socket joins a room). With 10,000
// Socket.IO sessions the state bucket took 359 pages of 8 KiB, against
// 414 at 0.95, 406 at 0.8 and 646 with bbolt's even split (the expiry
// index: 127 against 201). A 95 % split of keys inserted anywhere would
// leave pages a third full on average.
const stateFillPercent = 0.9

// runEnd reports whether key, absent from the cursor's bucket and followed
// there by next (nil at the end), goes at the end of a run of keys: it
// shares a longer prefix with the key before it than with next, as a key
// made in time order does with the last one made (and a random key
// usually does not).
func runEnd(key, next []byte, cur *bbolt.Cursor) bool {
	var prev []byte
	if next == nil {
		prev, _ = cur.Last()
	} else {
		prev, _ = cur.Prev()
	}
	return commonPrefix(key, prev) > commonPrefix(key, next)
}

// commonPrefix returns the length of the longest common prefix of a and b.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// kvBuffer holds the keys and values put in one transaction, which bbolt
// requires to stay valid until the commit: one allocation when sized
// right. Slices it returned stay valid when it grows (the old array is
// kept and never written again).
type kvBuffer []byte

// kvAdd appends head and tail to b and returns them as one slice.
func kvAdd[T ~string | ~[]byte](b *kvBuffer, head []byte, tail T) []byte {
	start := len(*b)
	*b = append(append(*b, head...), tail...)
	return (*b)[start:len(*b):len(*b)]
}

// Get returns the live record under key; see broker.State.Get. Expiry is
// checked against time.Now. The Value is a copy owned by the caller.
func (l *Log) Get(ctx context.Context, key string) (broker.Record, error) {
	if err := broker.ValidateStateKey(key); err != nil {
		return broker.Record{}, fmt.Errorf("bolt: get state: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return broker.Record{}, fmt.Errorf("bolt: get state %q: %w", key, err)
	}
	if err := l.acquire("get state"); err != nil {
		return broker.Record{}, err
	}
	defer l.mu.RUnlock()
	var r broker.Record
	live := false
	over := l.pend.stateUnder(key, true) // before the transaction: see stateUnder
	err := l.view(0, 0, func(tx *bbolt.Tx) error {
		if over = newerThan(tx, over); len(over) > 0 {
			r, live = liveCopy(over[0].rec, time.Now())
			return nil
		}
		v := tx.Bucket(bucketState).Get([]byte(key))
		if v == nil {
			return nil
		}
		var err error
		r, live, err = decodeStateRecord([]byte(key), v, time.Now())
		return err
	})
	if err != nil {
		return broker.Record{}, fmt.Errorf("bolt: get state %q: %w", key, err)
	}
	if !live {
		return broker.Record{}, fmt.Errorf("bolt: get state %q: %w", key, broker.ErrNotFound)
	}
	return r, nil
}

// Put writes recs as one journal record, fdatasynced before it returns,
// as AppendWith does with no entries; see broker.State.Put. A bad record
// fails the call with an error wrapping broker.ErrInvalid and writes
// nothing. recs are not retained.
func (l *Log) Put(ctx context.Context, recs []broker.Record) error {
	if err := broker.ValidateRecords(recs); err != nil {
		return fmt.Errorf("bolt: put state: %w", err)
	}
	if len(recs) == 0 {
		return nil
	}
	if err := l.acquire("put state"); err != nil {
		return err
	}
	defer l.mu.RUnlock()
	if _, err := l.commit(ctx, nil, recs); err != nil {
		return fmt.Errorf("bolt: put state: %w", err)
	}
	return nil
}

// newerThan returns the records of over (sorted by key) that tx does not
// hold yet: journaled after the last record tx's checkpoint applied. The
// others tx holds, or a newer record of their key.
//
// The caller took over before it opened tx, so tx holds at least what the
// checkpointer had applied then: every record journaled up to tx's last
// applied one is in tx, and every later one up to when over was taken is
// in over. A key's newest record is therefore the one in over when its
// seq is above tx's, else the one in tx: the records returned are those
// of one moment, as a bbolt snapshot's are.
func newerThan(tx *bbolt.Tx, over []stateEntry) []stateEntry {
	if len(over) == 0 {
		return nil
	}
	applied := decodeUint(tx.Bucket(bucketMeta).Get(keyJSeq))
	out := over[:0:0]
	for _, e := range over {
		if e.seq > applied {
			out = append(out, e)
		}
	}
	return out
}

// liveCopy returns r with its value copied, and whether it is live at now
// (a deletion never is).
func liveCopy(r broker.Record, now time.Time) (broker.Record, bool) {
	if r.Value == nil || !r.Live(now) {
		return broker.Record{}, false
	}
	r.Value = append(make([]byte, 0, len(r.Value)), r.Value...)
	return r, true
}

// Scan calls fn with every live record whose key starts with prefix, in
// key order; see broker.State.Scan. It copies the records out of one read
// transaction, then calls fn outside it (so fn may use the Log).
func (l *Log) Scan(ctx context.Context, prefix string, fn func(broker.Record) bool) error {
	if err := broker.ValidateStatePrefix(prefix); err != nil {
		return fmt.Errorf("bolt: scan state: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bolt: scan state %q: %w", prefix, err)
	}
	recs, err := l.scan(prefix)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if !fn(r) {
			return nil
		}
	}
	return nil
}

// scan returns the live records under prefix, in key order.
func (l *Log) scan(prefix string) ([]broker.Record, error) {
	if err := l.acquire("scan state"); err != nil {
		return nil, err
	}
	defer l.mu.RUnlock()
	var recs []broker.Record
	p := []byte(prefix)
	over := l.pend.stateUnder(prefix, false) // before the transaction: see stateUnder
	err := l.view(0, 0, func(tx *bbolt.Tx) error {
		now := time.Now()
		over := newerThan(tx, over)
		add := func(r broker.Record, live bool) {
			if live {
				recs = append(recs, r)
			}
		}
		c := tx.Bucket(bucketState).Cursor()
		k, v := c.Seek(p)
		for {
			if k != nil && !bytes.HasPrefix(k, p) {
				k = nil
			}
			switch {
			case k == nil && len(over) == 0:
				return nil
			case len(over) > 0 && (k == nil || over[0].rec.Key <= string(k)):
				if k != nil && over[0].rec.Key == string(k) { // the newer record replaces the file's
					k, v = c.Next()
				}
				add(liveCopy(over[0].rec, now))
				over = over[1:]
			default:
				r, live, err := decodeStateRecord(k, v, now)
				if err != nil {
					return err
				}
				add(r, live)
				k, v = c.Next()
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: scan state %q: %w", prefix, err)
	}
	return recs, nil
}

// Expire removes the records whose expiry is not after now, soonest first
// through the expiry index, in write transactions of at most
// Options.TrimBatch records each (so checkpoints wait for one batch at
// most), after applying the journal;
// see broker.State.Expire. When ctx is canceled or the log is closed
// between batches it returns the count removed so far with the error.
func (l *Log) Expire(ctx context.Context, now time.Time) (int, error) {
	if err := l.applyFirst(ctx, "expire state"); err != nil {
		return 0, err
	}
	cutoff := expiryCode(now)
	removed := 0
	for done := false; !done; {
		n, err := l.batchTx(ctx, "expire state", func(tx *bbolt.Tx) (int, error) {
			var n int
			var err error
			n, done, err = expireRecords(tx, cutoff, l.trimBatch)
			return n, err
		})
		removed += n
		if err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// expireRecords removes up to budget records whose expiry code is at most
// cutoff, soonest first. It reports how many it removed and whether none
// is left to remove.
func expireRecords(tx *bbolt.Tx, cutoff uint64, budget int) (int, bool, error) {
	state := tx.Bucket(bucketState)
	c := tx.Bucket(bucketStateTime).Cursor()
	for n := 0; n < budget; n++ {
		k, _ := c.First()
		if k == nil {
			return n, true, nil
		}
		if len(k) <= expiryLen {
			return n, false, fmt.Errorf("state expiry index key of %d bytes: %w", len(k), errCorrupt)
		}
		if binary.BigEndian.Uint64(k) > cutoff {
			return n, true, nil
		}
		if err := state.Delete(bytes.Clone(k[expiryLen:])); err != nil {
			return n, false, fmt.Errorf("expire state key %q: %w", k[expiryLen:], err)
		}
		if err := c.Delete(); err != nil {
			return n, false, fmt.Errorf("expire state key %q: expiry index: %w", k[expiryLen:], err)
		}
	}
	return budget, false, nil
}
