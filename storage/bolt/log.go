package bolt

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

var _ broker.StateLog = (*Log)(nil)

// Bucket and key names. Every top-level bucket is created with the file.
var (
	bucketMeta      = []byte("meta")      // keyEpoch, keyHead, keyIndexed, keyVersion
	bucketEvents    = []byte("events")    // offset key → record
	bucketRooms     = []byte("rooms")     // one nested bucket per room: offset key → empty (the room index)
	bucketRoomMeta  = []byte("roommeta")  // room name → roomMeta, as far as the index goes
	bucketIdem      = []byte("idem")      // idemKey → offset + record
	bucketIdemTime  = []byte("idemtime")  // time key + idemKey → empty, for expiry
	bucketState     = []byte("state")     // state key → expiry code + value
	bucketStateTime = []byte("statetime") // expiry code + state key → empty, for Expire

	keyEpoch   = []byte("epoch")
	keyHead    = []byte("head")
	keyIndexed = []byte("indexed")
	keyVersion = []byte("version")
	keyJSeq    = []byte("jseq") // seq of the last journal record applied (absent: 0)
	keyJPos    = []byte("jpos") // journal position after it (absent: 0)

	// topBuckets are the buckets besides meta.
	topBuckets = [][]byte{bucketEvents, bucketRooms, bucketRoomMeta, bucketIdem, bucketIdemTime, bucketState, bucketStateTime}
)

// formatVersion is the layout version stored in the meta bucket. Version 1
// kept each record in its room's bucket; version 2 keeps records in one
// events bucket and indexes rooms lazily; version 3 adds the state buckets
// and keeps no internal rooms in the log; version 4 has a journal beside
// the file (keyJSeq, keyJPos), which a build that reads only version 3
// would not apply, so it must refuse the file. Open migrates a version 2
// file (see migrate.go), upgrades a version 3 file in place (it has no
// journal: the new keys' absence means none applied) and refuses any
// other version.
const formatVersion = 4

// formatMigrated is the one older version Open migrates.
const formatMigrated = 2

// formatNoJournal is the version Open upgrades by writing the version.
const formatNoJournal = 3

// Defaults that Open uses for zero Options fields.
const (
	// DefaultTimeout is how long Open waits for the file lock.
	DefaultTimeout = time.Second
	// DefaultInitialMmapSize is the first memory map size: 32 MiB of
	// address space.
	DefaultInitialMmapSize = 32 << 20
	// DefaultPageSize is the page size of a new file: 8 KiB. Larger pages
	// than the usual 4 KiB mean fewer writes per commit for a log that
	// only appends (about 20% more events/s with 1 KB events here).
	DefaultPageSize = 8192
	// DefaultTrimBatch is the most deletions Trim commits in one write
	// transaction.
	DefaultTrimBatch = 10_000
	// DefaultIndexBatch is how many events not applied wake the
	// checkpointer.
	DefaultIndexBatch = 8192
	// DefaultIndexInterval is how often the checkpointer applies whatever
	// is journaled.
	DefaultIndexInterval = time.Second
	// maxIndexTx is the most events one checkpoint transaction covers,
	// however large IndexBatch is: it bounds the memory and the time of
	// one transaction.
	maxIndexTx = 50_000
)

// Options configure Open. The zero value is ready to use. Retention and the
// idempotency window are not options: they are passed to Trim.
//
// The file is always opened with fsync on every commit (NoSync false: an
// event is durable when Append returns), bbolt's hash-map freelist (fast
// for large files, persisted so reopening needs no scan) and the OS page
// size.
type Options struct {
	// Timeout is how long Open waits for the file lock that another process
	// (or another open Log in this process) holds; then Open fails. Zero
	// means DefaultTimeout; a negative value waits forever.
	Timeout time.Duration

	// InitialMmapSize is the size in bytes of the first memory map of the
	// file. While the file fits in the map, read transactions never delay a
	// write transaction that grows the file. It reserves address space,
	// not memory or disk. Zero means DefaultInitialMmapSize.
	InitialMmapSize int

	// PageSize is the bbolt page size of a new file, in bytes (a multiple
	// of the OS page size); an existing file keeps the size it was created
	// with. Zero means DefaultPageSize.
	PageSize int

	// TrimBatch is the most events Trim deletes in one write transaction,
	// and the most idempotency keys it forgets in one; Trim commits as many
	// transactions as it needs. It bounds how long Trim holds the write
	// lock and delays Appends. Expire and the migration from format 2 at
	// Open delete in batches of the same size. Zero means DefaultTrimBatch.
	TrimBatch int

	// IndexBatch is how many events not applied to bbolt yet make the
	// checkpointer run before its interval is up (so does a quarter of
	// the journal). Each checkpoint transaction covers at most
	// min(4×IndexBatch, 50,000) events (and at least one Append). Zero
	// means DefaultIndexBatch.
	IndexBatch int

	// IndexInterval is how often the checkpointer applies every journaled
	// Append, however few. Zero means DefaultIndexInterval.
	IndexInterval time.Duration

	// JournalSize is the size in bytes of a new journal file (see
	// journal.go); a smaller existing one grows to it once Open applied
	// it (a journal never shrinks), and one grows when a single Append
	// needs more. Appends wait for the checkpointer when the
	// records not applied yet fill it. Zero means DefaultJournalSize.
	JournalSize int64

	// OnCommit, when set, is called after each Append that committed
	// events, with the batch's event count, the time of the whole commit
	// (from taking the write lock: idempotency keys, encoding, the
	// journal) and the part spent writing and fdatasyncing the journal
	// record (write). It runs on the appending goroutine after the commit,
	// once per record (not per event): keep it cheap (for metrics:
	// histogram observations). Nil means none.
	OnCommit func(events int, commit, write time.Duration)

	// OnCheckpoint, when set, is called after each checkpoint transaction
	// with the count of Appends and of events it applied and its time,
	// on the checkpointing goroutine: keep it cheap. Nil means none.
	OnCheckpoint func(appends, events int, took time.Duration)

	// Logger receives the checkpointer's errors (it retries on its next tick)
	// and the one INFO line of a migration at Open. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Log is a broker.Log and its broker.State (a broker.StateLog) stored in
// one bbolt file. See the package documentation for the layout.
//
// All methods are safe for concurrent use. Appends are serialized (one
// journal record and one fdatasync each); reads run in parallel read-only
// transactions, merged with what is not applied yet, and see a consistent
// snapshot. Events, slices and byte slices returned are copies owned by
// the caller, except the events Append returns. After Close every method
// that returns an error returns one wrapping broker.ErrClosed.
//
// A Log owns one goroutine, the checkpointer, started by Open and stopped
// by Close.
type Log struct {
	db            *bbolt.DB
	epoch         string                                        // immutable
	trimBatch     int                                           // immutable
	indexBatch    uint64                                        // immutable
	indexTxMax    uint64                                        // immutable
	indexInterval time.Duration                                 // immutable
	logger        *slog.Logger                                  // immutable
	health        *health                                       // safe for concurrent use: see faults.go
	onCommit      func(events int, commit, write time.Duration) // immutable; nil: none
	onCheckpoint  func(appends, events int, took time.Duration) // immutable; nil: none

	head atomic.Uint64 // head of the last returned Append; only grows

	// wmu serializes Appends: the journal, jq, pend's additions and head
	// follow one order.
	wmu  sync.Mutex
	jrn  *journal   // guarded by wmu
	jq   []*jbatch  // guarded by wmu: the journaled batches not applied yet, oldest first
	pend *pending   // see pending for its locking
	cmu  sync.Mutex // serializes checkpoints; taken before wmu

	wake chan struct{} // capacity 1: tells the checkpointer to run now
	stop chan struct{} // closed by Close: stops the checkpointer
	wg   sync.WaitGroup

	mu     sync.RWMutex // held for reading by every operation, for writing by Close
	closed bool         // guarded by mu
}

// Open opens the log in the bbolt file at path, creating the file (and its
// parent directory) when missing; a new file gets a new random epoch. It
// indexes what an older build left unindexed, opens the journal beside
// the file (path + "-journal", created with opts.JournalSize bytes of
// zeros), applies what a crash left in it, and starts the checkpointer.
// It fails when the file is locked by another process
// for longer than opts.Timeout, is not a bbolt file, or is a bbolt file of
// another application or format version. A file of format version 2 is
// migrated in place first (see migrate); there is no migration from format
// 1, and a newer format is refused. The caller must Close the returned Log.
func Open(path string, opts Options) (*Log, error) {
	if path == "" {
		return nil, errors.New("bolt: open: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	bo := &bbolt.Options{
		Timeout:         opts.Timeout,
		FreelistType:    bbolt.FreelistMapType,
		InitialMmapSize: opts.InitialMmapSize,
		PageSize:        opts.PageSize,
	}
	if bo.PageSize <= 0 {
		bo.PageSize = DefaultPageSize
	}
	switch {
	case opts.Timeout == 0:
		bo.Timeout = DefaultTimeout
	case opts.Timeout < 0:
		bo.Timeout = 0 // bbolt waits forever
	}
	if bo.InitialMmapSize <= 0 {
		bo.InitialMmapSize = DefaultInitialMmapSize
	}
	db, err := bbolt.Open(path, 0o600, bo)
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	l := newLog(db, opts)
	if err := l.init(path, opts.JournalSize); err != nil {
		if l.jrn != nil {
			_ = l.jrn.close()
		}
		_ = db.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	l.wg.Go(l.runCheckpointer)
	return l, nil
}

// init creates or checks the file, indexes what an older build left
// unindexed, opens the journal and applies the records bbolt does not
// hold yet. A file of format 2 (initFile returns errNeedsMigration, and
// its transaction rolls back) is migrated first. A new or current file
// costs one write transaction (and one more when the journal has records
// to apply), so its pages are laid out as they always were.
func (l *Log) init(path string, journalSize int64) error {
	var jseq, jpos uint64
	load := func(tx *bbolt.Tx) error {
		epoch, indexed, head, err := initFile(tx)
		if err != nil {
			return err
		}
		l.epoch = epoch
		l.pend = newPending(indexed, head)
		l.head.Store(head)
		meta := tx.Bucket(bucketMeta)
		jseq, jpos = decodeUint(meta.Get(keyJSeq)), decodeUint(meta.Get(keyJPos))
		return l.pend.load(tx)
	}
	err := l.update(0, 0, load)
	if errors.Is(err, errNeedsMigration) {
		if err := migrate(l.db, l.trimBatch, l.logger); err != nil {
			return err
		}
		err = l.db.Update(load)
	}
	if err != nil {
		return err
	}
	if err := l.indexLoaded(); err != nil {
		return err
	}
	if journalSize <= 0 {
		journalSize = DefaultJournalSize
	}
	if l.jrn, err = openJournal(journalPath(path), journalSize, l.epoch); err != nil {
		return err
	}
	if err := l.replay(int64(jpos), jseq); err != nil {
		return err
	}
	return l.jrn.growTo(journalSize) // a larger JournalSize than the file's, now that nothing is left to apply
}

// replay applies the journal records after position jpos and seq jseq,
// the last applied: it hands them to pending as Append does, and applies
// them.
func (l *Log) replay(jpos int64, jseq uint64) error {
	if jpos > l.jrn.size { // a journal deleted and made anew, smaller: nothing of it to apply
		jpos = 0
	}
	var size int64
	pos, seq, err := l.jrn.batches(jpos, jseq, func(b *jbatch) error {
		if head := l.head.Load(); b.prev != head {
			return fmt.Errorf("batch follows offset %d, the log's head is %d: %w", b.prev, head, errCorrupt)
		}
		evs, err := b.events()
		if err != nil {
			return err
		}
		l.jq = append(l.jq, b)
		l.pend.add(b, evs)
		l.head.Store(b.head())
		size += b.size
		return nil
	})
	if err != nil {
		return err
	}
	l.jrn.resume(jpos, pos, seq, len(l.jq), size)
	if len(l.jq) == 0 {
		return nil
	}
	return l.checkpoint(nil)
}

// newLog returns a Log on db with opts' defaults applied.
func newLog(db *bbolt.DB, opts Options) *Log {
	l := &Log{
		db:            db,
		trimBatch:     opts.TrimBatch,
		indexInterval: opts.IndexInterval,
		logger:        opts.Logger,
		onCommit:      opts.OnCommit,
		onCheckpoint:  opts.OnCheckpoint,
		wake:          make(chan struct{}, 1),
		stop:          make(chan struct{}),
	}
	if l.trimBatch <= 0 {
		l.trimBatch = DefaultTrimBatch
	}
	l.indexBatch = DefaultIndexBatch
	if opts.IndexBatch > 0 {
		l.indexBatch = uint64(opts.IndexBatch)
	}
	l.indexTxMax = min(4*l.indexBatch, maxIndexTx)
	if l.indexInterval <= 0 {
		l.indexInterval = DefaultIndexInterval
	}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	l.health = newHealth(l.logger)
	if !journalSync {
		l.logger.Warn("bolt: a benchmark build (tag rtbroker_nofsync): publishes are acknowledged before they are on disk, and a crash loses them")
	}
	return l
}

// initFile creates the buckets and metadata of a new file, or checks those
// of an existing one, and returns the epoch, the indexed offset and the
// head.
func initFile(tx *bbolt.Tx) (epoch string, indexed, head uint64, err error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		other := false
		_ = tx.ForEach(func([]byte, *bbolt.Bucket) error { other = true; return nil })
		if other {
			return "", 0, 0, errors.New("not an rtbroker log: the file has other buckets")
		}
		epoch, err = createFile(tx)
		return epoch, 0, 0, err
	}
	v := meta.Get(keyVersion)
	if len(v) != 8 {
		return "", 0, 0, fmt.Errorf("format version: %w", errCorrupt)
	}
	switch got := decodeUint(v); {
	case got > formatVersion:
		return "", 0, 0, fmt.Errorf("format version %d is newer than this build reads (format %d): "+
			"run the rtbroker version that wrote it, or a newer one", got, formatVersion)
	case got < formatMigrated:
		return "", 0, 0, fmt.Errorf("format version %d, but this build reads only format %d and migrates format %d "+
			"(there is no migration from format %d: start from an empty data directory)", got, formatVersion, formatMigrated, got)
	case got == formatMigrated:
		return "", 0, 0, errNeedsMigration
	case got == formatNoJournal:
		if err := meta.Put(keyVersion, encodeKey(formatVersion)); err != nil {
			return "", 0, 0, fmt.Errorf("format version: %w", err)
		}
	}
	for _, name := range topBuckets {
		if tx.Bucket(name) == nil {
			return "", 0, 0, fmt.Errorf("bucket %s missing: %w", name, errCorrupt)
		}
	}
	e := meta.Get(keyEpoch)
	if len(e) == 0 {
		return "", 0, 0, fmt.Errorf("epoch missing: %w", errCorrupt)
	}
	if head, err = readHead(tx); err != nil {
		return "", 0, 0, err
	}
	if indexed, err = readIndexed(tx); err != nil {
		return "", 0, 0, err
	}
	if indexed > head {
		return "", 0, 0, fmt.Errorf("indexed offset %d beyond the head %d: %w", indexed, head, errCorrupt)
	}
	return string(e), indexed, head, nil
}

func createFile(tx *bbolt.Tx) (epoch string, err error) {
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return "", err
	}
	for _, name := range topBuckets {
		if _, err := tx.CreateBucket(name); err != nil {
			return "", err
		}
	}
	epoch = ulid.Make().String()
	for _, kv := range [][2][]byte{
		{keyEpoch, []byte(epoch)},
		{keyVersion, encodeKey(formatVersion)},
		{keyHead, encodeKey(0)},
		{keyIndexed, encodeKey(0)},
	} {
		if err := meta.Put(kv[0], kv[1]); err != nil {
			return "", err
		}
	}
	return epoch, nil
}

// readHead returns the head stored in tx's snapshot.
func readHead(tx *bbolt.Tx) (uint64, error) { return readMetaUint(tx, keyHead) }

// readIndexed returns the highest offset the room index covers in tx's
// snapshot: every event up to it is in its room's index and metadata.
func readIndexed(tx *bbolt.Tx) (uint64, error) { return readMetaUint(tx, keyIndexed) }

func readMetaUint(tx *bbolt.Tx, key []byte) (uint64, error) {
	v := tx.Bucket(bucketMeta).Get(key)
	if len(v) != 8 {
		return 0, fmt.Errorf("%s: %w", key, errCorrupt)
	}
	return decodeUint(v), nil
}

// decodeUint decodes an 8-byte value; anything else (nil: absent) is 0.
func decodeUint(b []byte) uint64 {
	off, _ := decodeKey(b)
	return off
}

// Epoch returns the epoch created with the file. It is also valid after
// Close.
func (l *Log) Epoch() string { return l.epoch }

// Head returns the offset of the last committed event, 0 when empty. It
// never goes backwards and is updated after the commit is durable. After
// Close it returns the last head.
func (l *Log) Head() uint64 { return l.head.Load() }

// acquire takes the read side of mu for one operation; it fails with
// broker.ErrClosed after Close. The caller must call l.mu.RUnlock when
// acquire succeeds.
func (l *Log) acquire(op string) error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return fmt.Errorf("bolt: %s: %w", op, broker.ErrClosed)
	}
	return nil
}

// Close waits for operations in flight, stops the checkpointer, applies
// what is journaled and not applied yet and closes the files. They are
// closed even when that last checkpoint fails (its error is returned;
// nothing is lost, the next Open applies the journal). Closing twice
// returns an error wrapping broker.ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("bolt: close: %w", broker.ErrClosed)
	}
	l.closed = true
	close(l.stop)
	l.wg.Wait() // the checkpointer does not take mu
	var errs []error
	if err := l.checkpoint(nil); err != nil {
		errs = append(errs, fmt.Errorf("bolt: close: last checkpoint: %w", err))
	}
	if err := l.jrn.close(); err != nil {
		errs = append(errs, fmt.Errorf("bolt: close: journal: %w", err))
	}
	if err := l.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("bolt: close: %w", err))
	}
	return errors.Join(errs...)
}

// Backup writes a consistent copy of the whole file to w while the log
// stays online: it applies the journal, then copies in a read transaction,
// so Appends continue (the copy has every Append returned before Backup
// was called, and none that came after it applied the journal). The copy is a valid bbolt file that Open
// accepts, with the same epoch. It returns the number of bytes written and
// the first error of w or of reading the file; after an error the bytes
// written are not a usable copy.
func (l *Log) Backup(w io.Writer) (int64, error) { return l.BackupSized(w, nil) }

// BackupSized is Backup that first calls size, when not nil, with the
// number of bytes the copy will have (an HTTP handler sets Content-Length
// with it), from inside the read transaction, before anything is written.
func (l *Log) BackupSized(w io.Writer, size func(int64)) (int64, error) {
	if err := l.acquire("backup"); err != nil {
		return 0, err
	}
	defer l.mu.RUnlock()
	if err := l.checkpoint(nil); err != nil {
		return 0, fmt.Errorf("bolt: backup: apply the journal: %w", err)
	}
	var n int64
	err := l.view(0, 0, func(tx *bbolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("bolt: backup: %w", err)
	}
	return n, nil
}
