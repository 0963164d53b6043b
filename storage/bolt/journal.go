package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/rtbroker/rtbroker/broker"
)

// The journal is the file beside the bbolt file (its path + "-journal")
// that makes an Append durable with one write and one fdatasync. bbolt
// commits with two fsyncs and copies every B+tree node it touches, so a
// commit per Append bounds how many Appends a second the disk and the core
// allow; the journal takes the Append, and the checkpointer (index.go)
// applies many journaled Appends to bbolt in one transaction later.
//
// The file has a fixed size (Options.JournalSize), written with zeros
// when it is created, so that writing a record allocates no block and
// fdatasync flushes data only. Records follow each other and wrap around
// to the start when the end is reached; a record is only overwritten
// after the checkpointer applied it. Record layout:
//
//	crc32c  4 bytes: of the epoch, then of everything after this field
//	length  4 bytes: of the payload
//	seq     8 bytes: 1 for the file's first record, one more for each next
//	kind    1 byte: kindBatch, or kindWrap (no payload: the next record is
//	        at the start of the file)
//	        7 zero bytes
//	payload a batch (see encodeBatch)
//
// All integers are big-endian. bbolt's meta bucket holds the seq of the
// last applied record (keyJSeq) and the position after it (keyJPos), in
// the checkpointer's transaction. Open reads the records that follow from
// there while their CRC holds and their seq is the next one, applies them
// and goes on writing after the last. A record cut short by a crash fails
// its CRC, a stale one from an earlier lap or an unrelated file fails its
// seq or CRC (the epoch is in the CRC), so either ends the journal: a
// record is acknowledged only after its fdatasync, and the next one is
// written only after that, so none after the end was acknowledged.

const (
	journalHeaderLen = 24
	kindBatch        = 1
	kindWrap         = 2

	// DefaultJournalSize is the size of a new journal file: 32 MiB.
	DefaultJournalSize = 32 << 20
	// minJournalSize is the smallest journal Open makes.
	minJournalSize = 64 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errJournalFull says a record does not fit before the oldest record not
// applied yet: the caller checkpoints and tries again.
var errJournalFull = errors.New("journal full")

// journalPath is the journal file of the bbolt file at path.
func journalPath(path string) string { return path + "-journal" }

// journal is the open journal file. Its fields are guarded by Log.wmu,
// except that Open and the checkpointer's release also hold it.
type journal struct {
	f    *os.File
	size int64
	salt uint32 // crc32c of the epoch: where each record's CRC starts

	pos   int64  // where the next record goes
	seq   uint64 // seq of the last record written
	head  int64  // position of the oldest record not applied yet (pos when none)
	live  int    // records written and not applied yet
	bytes int64  // their size
}

// openJournal opens the journal at path, creating it with size bytes of
// zeros (made durable) when it is missing or shorter than any journal. An
// existing journal keeps its size until Open applied it (growTo): records
// near its end must be read where they were written.
func openJournal(path string, size int64, epoch string) (*journal, error) {
	size = max(size, minJournalSize)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	cur := st.Size()
	if cur < minJournalSize { // new, or its making was cut short: it holds no record
		if err := zeroFill(f, 0, size); err != nil {
			f.Close()
			return nil, fmt.Errorf("journal %s: %w", path, err)
		}
		if err := syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, fmt.Errorf("journal %s: %w", path, err)
		}
		cur = size
	}
	return &journal{f: f, size: cur, salt: crc32.Checksum([]byte(epoch), castagnoli)}, nil
}

// zeroFill writes zeros into f from off to end and fsyncs it (data and
// size).
func zeroFill(f *os.File, off, end int64) error {
	zeros := make([]byte, 1<<20)
	for off < end {
		n := min(int64(len(zeros)), end-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	return f.Sync()
}

// syncDir fsyncs a directory, so that a file created in it survives a
// crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// resume sets where the journal goes on after Open read it: the oldest
// record not applied starts at head (or the wrap marker before it), and
// live records of bytes in all follow up to pos, the last with seq seq.
func (j *journal) resume(head, pos int64, seq uint64, live int, bytes int64) {
	j.head, j.pos, j.seq, j.live, j.bytes = head, pos, seq, live, bytes
	if live == 0 {
		j.head = pos
	}
}

// fits reports whether a record of n bytes can be written now without
// overwriting a record not applied yet.
func (j *journal) fits(n int64) bool {
	if n > j.size-journalHeaderLen {
		return false
	}
	switch {
	case j.live == 0:
		return true
	case j.pos > j.head: // live records in [head, pos): free at the end and before head
		return j.pos+n <= j.size || n <= j.head
	default: // wrapped, live records in [head, size) and [0, pos): free in [pos, head)
		return j.pos+n <= j.head
	}
}

// write fills the header of buf (a record: header space, then the
// payload) as the next record, writes it and fdatasyncs the file. It
// returns the position after the record. On an error the record is not
// written (as far as this process can tell: a failed sync leaves it to
// chance, and the next record overwrites it) and the journal is unchanged.
func (j *journal) write(buf []byte) (end int64, err error) {
	n := int64(len(buf))
	if !j.fits(n) {
		return 0, errJournalFull
	}
	j.header(buf, kindBatch, j.seq+1)
	pos := j.pos
	if pos+n > j.size { // wrap: a marker where the reader would look next, unless no header fits there
		if pos+journalHeaderLen <= j.size {
			var mark [journalHeaderLen]byte
			j.header(mark[:], kindWrap, j.seq+1)
			if _, err := j.f.WriteAt(mark[:], pos); err != nil {
				return 0, err
			}
		}
		pos = 0
	}
	if _, err := j.f.WriteAt(buf, pos); err != nil {
		return 0, err
	}
	if err := fdatasync(j.f); err != nil {
		// Best effort: a later Open must not find it if it did reach the disk.
		var zero [journalHeaderLen]byte
		_, _ = j.f.WriteAt(zero[:], pos)
		return 0, err
	}
	if j.live == 0 {
		j.head = pos
	}
	j.pos, j.seq = pos+n, j.seq+1
	j.live++
	j.bytes += n
	return j.pos, nil
}

// applied tells the journal that the checkpointer applied count records
// of bytes in all, the last of them ending at end: their space may be
// written again.
func (j *journal) applied(count int, bytes, end int64) {
	j.live -= count
	j.bytes -= bytes
	j.head = end
	if j.live == 0 {
		j.head = j.pos
	}
}

// grow makes room for a record of n bytes that does not fit even in an
// empty journal: it appends that much room, in zeros, to the file (made
// durable).
func (j *journal) grow(n int64) error { return j.growTo(j.size + n + journalHeaderLen) }

// growTo appends zeros to the file up to size bytes (made durable), when
// it is smaller. It is possible only while no record wraps around (the
// records' positions stay where a reader looks for them).
func (j *journal) growTo(size int64) error {
	if size <= j.size {
		return nil
	}
	if j.live > 0 && j.pos <= j.head {
		return errJournalFull
	}
	if err := zeroFill(j.f, j.size, size); err != nil {
		return err
	}
	j.size = size
	return nil
}

// header fills the header of the record rec (header, then payload).
func (j *journal) header(rec []byte, kind byte, seq uint64) {
	binary.BigEndian.PutUint32(rec[4:], uint32(len(rec)-journalHeaderLen))
	binary.BigEndian.PutUint64(rec[8:], seq)
	rec[16] = kind
	clear(rec[17:journalHeaderLen])
	binary.BigEndian.PutUint32(rec, crc32.Update(j.salt, castagnoli, rec[4:]))
}

// read calls fn with each record after position pos whose seq follows
// seq, in order, until one does not, with its seq and the position after
// it, and returns the position after the last record read and its seq.
// fn's payload is valid only during the call.
func (j *journal) read(pos int64, seq uint64, fn func(payload []byte, seq uint64, end int64) error) (int64, uint64, error) {
	var hdr [journalHeaderLen]byte
	var payload []byte
	wrapped := false // at the start of the file because of a wrap, no record read since
	for {
		if pos+journalHeaderLen > j.size {
			if wrapped {
				return pos, seq, nil
			}
			pos, wrapped = 0, true
			continue
		}
		if _, err := j.f.ReadAt(hdr[:], pos); err != nil {
			return 0, 0, fmt.Errorf("journal at %d: %w", pos, err)
		}
		n := int64(binary.BigEndian.Uint32(hdr[4:]))
		if binary.BigEndian.Uint64(hdr[8:]) != seq+1 || pos+journalHeaderLen+n > j.size {
			return pos, seq, nil
		}
		crc := crc32.Update(j.salt, castagnoli, hdr[4:])
		switch hdr[16] {
		case kindWrap:
			if n != 0 || wrapped || crc != binary.BigEndian.Uint32(hdr[:]) {
				return pos, seq, nil
			}
			pos, wrapped = 0, true
			continue
		case kindBatch:
		default:
			return pos, seq, nil
		}
		if int64(cap(payload)) < n {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := j.f.ReadAt(payload, pos+journalHeaderLen); err != nil && !errors.Is(err, io.EOF) {
			return 0, 0, fmt.Errorf("journal at %d: %w", pos, err)
		}
		if crc32.Update(crc, castagnoli, payload) != binary.BigEndian.Uint32(hdr[:]) {
			return pos, seq, nil
		}
		if err := fn(payload, seq+1, pos+journalHeaderLen+n); err != nil {
			return 0, 0, fmt.Errorf("journal record %d at %d: %w", seq+1, pos, err)
		}
		pos += journalHeaderLen + n
		seq++
		wrapped = false
	}
}

func (j *journal) close() error { return j.f.Close() }

// readJournal calls fn with each batch of the journal of the bbolt file
// at path whose epoch is epoch that follows jseq at jpos, the last applied
// (what Open would apply), without writing anything. A missing journal
// has none. It returns how many there were.
func readJournal(path, epoch string, jseq, jpos uint64, fn func(*jbatch) error) (int, error) {
	f, err := os.Open(journalPath(path))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	j := &journal{f: f, size: st.Size(), salt: crc32.Checksum([]byte(epoch), castagnoli)}
	if int64(jpos) > j.size { // a journal deleted and made anew, smaller: nothing of it to apply
		jpos = 0
	}
	n := 0
	_, _, err = j.batches(int64(jpos), jseq, func(b *jbatch) error {
		n++
		return fn(b)
	})
	return n, err
}

// batches is read that decodes each record into a batch.
func (j *journal) batches(pos int64, seq uint64, fn func(*jbatch) error) (int64, uint64, error) {
	return j.read(pos, seq, func(payload []byte, seq uint64, end int64) error {
		b, err := decodeBatch(bytes.Clone(payload))
		if err != nil {
			return err
		}
		b.seq, b.end, b.size = seq, end, int64(journalHeaderLen+len(payload))
		return fn(b)
	})
}

// fdatasync flushes f's data (and only the metadata needed to read it back).
func fdatasync(f *os.File) error {
	if !journalSync {
		return nil
	}
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// jbatch is one journaled Append, decoded: what the checkpointer applies
// to bbolt. Its slices point into the payload it was decoded from, which
// the batch owns.
type jbatch struct {
	seq  uint64 // the journal record's
	end  int64  // the journal position after the record
	size int64  // the record's size in the journal
	prev uint64 // the log head before the batch: its events follow it
	evs  []jevent
	recs []broker.Record
}

// jevent is one new event of a batch: its record and, when it has one,
// its idempotency key (idemKey form).
type jevent struct {
	rec []byte
	ik  []byte
}

// event returns the event to keep in memory for b's i-th event, e (the
// one Append returns): e's fields, and its data in b's payload, which the
// caller of Append may not change.
func (b *jbatch) event(i int, e *broker.Event) *broker.Event {
	c := &broker.Event{Offset: e.Offset, ID: e.ID, Room: e.Room, Type: e.Type, Time: e.Time, From: e.From}
	if n := len(e.Data); n > 0 {
		rec := b.evs[i].rec
		c.Data = rec[len(rec)-n : len(rec) : len(rec)]
	}
	return c
}

// events decodes b's events.
func (b *jbatch) events() ([]*broker.Event, error) {
	evs := make([]*broker.Event, len(b.evs))
	for i, e := range b.evs {
		evs[i] = &broker.Event{Offset: b.prev + 1 + uint64(i)}
		if err := decodeRecord(e.rec, evs[i]); err != nil {
			return nil, fmt.Errorf("event %d: %w", evs[i].Offset, err)
		}
	}
	return evs, nil
}

// head returns the log head after b.
func (b *jbatch) head() uint64 { return b.prev + uint64(len(b.evs)) }

// recordLen is len(appendRecord(nil, e)).
func recordLen(e *broker.Event) int {
	field := func(n int) int { return uvarintLen(uint64(n)) + n }
	return recordHeaderLen + field(len(e.Room)) + field(len(e.Type)) + field(len(e.From)) + field(len(e.Data))
}

// batchSize returns an upper bound of the payload encodeBatch writes for
// fresh (with their idempotency keys iks) and recs.
func batchSize(fresh []*broker.Event, iks [][]byte, recs []broker.Record) int {
	n := 8 + 4 + 4
	for i, e := range fresh {
		n += 2*binary.MaxVarintLen64 + recordSize(e) + len(iks[i])
	}
	for i := range recs {
		n += 3*binary.MaxVarintLen64 + 8 + 1 + len(recs[i].Key) + len(recs[i].Value)
	}
	return n
}

// encodeBatch appends the payload of a batch to b:
//
//	prev     8 bytes: the log head before the batch
//	events   4 bytes count, then each: uvarint length + record,
//	         uvarint length + idempotency key (idemKey form; 0: none)
//	records  4 bytes count, then each: uvarint length + key, 8 bytes
//	         expiry code, 1 byte 1 (a value follows) or 0 (delete),
//	         uvarint length + value
func encodeBatch(b []byte, prev uint64, fresh []*broker.Event, iks [][]byte, recs []broker.Record) []byte {
	b = binary.BigEndian.AppendUint64(b, prev)
	b = binary.BigEndian.AppendUint32(b, uint32(len(fresh)))
	for i, e := range fresh {
		b = binary.AppendUvarint(b, uint64(recordLen(e)))
		b = appendRecord(b, e)
		b = appendBytes(b, iks[i])
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(recs)))
	for i := range recs {
		r := &recs[i]
		b = appendBytes(b, r.Key)
		b = binary.BigEndian.AppendUint64(b, expiryCode(r.Expires))
		if r.Value == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
		}
		b = appendBytes(b, r.Value)
	}
	return b
}

// decodeBatch decodes a payload encodeBatch wrote. The batch keeps p.
func decodeBatch(p []byte) (*jbatch, error) {
	bad := func(what string) (*jbatch, error) {
		return nil, fmt.Errorf("journal batch: %s: %w", what, errCorrupt)
	}
	if len(p) < 12 {
		return bad("short")
	}
	b := &jbatch{prev: binary.BigEndian.Uint64(p)}
	n := binary.BigEndian.Uint32(p[8:])
	p = p[12:]
	if uint64(n) > uint64(len(p)) {
		return bad("event count")
	}
	b.evs = make([]jevent, n)
	var err error
	for i := range b.evs {
		e := &b.evs[i]
		if e.rec, p, err = cutBytes(p, "record"); err != nil {
			return nil, err
		}
		if _, err := recordRoom(e.rec); err != nil {
			return nil, err
		}
		if e.ik, p, err = cutBytes(p, "idempotency key"); err != nil {
			return nil, err
		}
		if len(e.ik) == 0 {
			e.ik = nil
		}
	}
	if len(p) < 4 {
		return bad("record count")
	}
	n = binary.BigEndian.Uint32(p)
	p = p[4:]
	if uint64(n) > uint64(len(p)) {
		return bad("record count")
	}
	b.recs = make([]broker.Record, n)
	for i := range b.recs {
		r := &b.recs[i]
		var key, val []byte
		if key, p, err = cutBytes(p, "state key"); err != nil {
			return nil, err
		}
		if len(p) < 9 {
			return bad("state record")
		}
		r.Key, r.Expires = string(key), expiryTime(binary.BigEndian.Uint64(p))
		has := p[8]
		if val, p, err = cutBytes(p[9:], "state value"); err != nil {
			return nil, err
		}
		if has == 1 {
			r.Value = val[:len(val):len(val)]
		}
	}
	if len(p) != 0 {
		return bad("trailing bytes")
	}
	return b, nil
}
