package bolt

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

var _ broker.Log = (*Log)(nil)

// Bucket and key names. Every top-level bucket is created with the file.
var (
	bucketMeta     = []byte("meta")     // keyEpoch, keyHead, keyVersion
	bucketRooms    = []byte("rooms")    // one nested bucket per room: offset key → record
	bucketRoomMeta = []byte("roommeta") // room name → roomMeta
	bucketIdem     = []byte("idem")     // idemKey → offset + record
	bucketIdemTime = []byte("idemtime") // time key + idemKey → empty, for expiry

	keyEpoch   = []byte("epoch")
	keyHead    = []byte("head")
	keyVersion = []byte("version")
)

// formatVersion is the layout version stored in the meta bucket. Open
// refuses a file with another version.
const formatVersion = 1

// Defaults that Open uses for zero Options fields.
const (
	// DefaultTimeout is how long Open waits for the file lock.
	DefaultTimeout = time.Second
	// DefaultInitialMmapSize is the first memory map size: 32 MiB of
	// address space.
	DefaultInitialMmapSize = 32 << 20
	// DefaultPageSize is the page size of a new file: 16 KiB. Larger pages
	// than the usual 4 KiB mean fewer writes per commit for a log that
	// only appends (about 20% more events/s with 1 KB events here).
	DefaultPageSize = 8192
	// DefaultTrimBatch is the most deletions Trim commits in one write
	// transaction.
	DefaultTrimBatch = 10_000
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
	// lock and delays Appends. Zero means DefaultTrimBatch.
	TrimBatch int
}

// Log is a broker.Log stored in one bbolt file. See the package
// documentation for the layout.
//
// All methods are safe for concurrent use. Appends are serialized (one
// bbolt write transaction and one fsync each); reads run in parallel
// read-only transactions and see a consistent snapshot. Events, slices and
// byte slices returned are copies owned by the caller. After Close every
// method that returns an error returns one wrapping broker.ErrClosed.
type Log struct {
	db        *bbolt.DB
	epoch     string // immutable
	trimBatch int    // immutable

	head atomic.Uint64 // highest committed head; only grows

	mu     sync.RWMutex // held for reading by every operation, for writing by Close
	closed bool         // guarded by mu
}

// Open opens the log in the bbolt file at path, creating the file (and its
// parent directory) when missing; a new file gets a new random epoch. It
// fails when the file is locked by another process for longer than
// opts.Timeout, is not a bbolt file, or is a bbolt file of another
// application or format version. The caller must Close the returned Log.
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
	l := &Log{db: db, trimBatch: opts.TrimBatch}
	if l.trimBatch <= 0 {
		l.trimBatch = DefaultTrimBatch
	}
	var head uint64
	err = db.Update(func(tx *bbolt.Tx) error {
		var err error
		l.epoch, head, err = initFile(tx)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	l.head.Store(head)
	return l, nil
}

// initFile creates the buckets and metadata of a new file, or checks those
// of an existing one, and returns the epoch and head.
func initFile(tx *bbolt.Tx) (epoch string, head uint64, err error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		other := false
		_ = tx.ForEach(func([]byte, *bbolt.Bucket) error { other = true; return nil })
		if other {
			return "", 0, errors.New("not an rtbroker log: the file has other buckets")
		}
		return createFile(tx)
	}
	v := meta.Get(keyVersion)
	if len(v) != 8 {
		return "", 0, fmt.Errorf("format version: %w", errCorrupt)
	}
	if got := decodeUint(v); got != formatVersion {
		return "", 0, fmt.Errorf("format version %d, want %d", got, formatVersion)
	}
	for _, name := range [][]byte{bucketRooms, bucketRoomMeta, bucketIdem, bucketIdemTime} {
		if tx.Bucket(name) == nil {
			return "", 0, fmt.Errorf("bucket %s missing: %w", name, errCorrupt)
		}
	}
	e := meta.Get(keyEpoch)
	if len(e) == 0 {
		return "", 0, fmt.Errorf("epoch missing: %w", errCorrupt)
	}
	head, err = readHead(tx)
	return string(e), head, err
}

func createFile(tx *bbolt.Tx) (epoch string, head uint64, err error) {
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return "", 0, err
	}
	for _, name := range [][]byte{bucketRooms, bucketRoomMeta, bucketIdem, bucketIdemTime} {
		if _, err := tx.CreateBucket(name); err != nil {
			return "", 0, err
		}
	}
	epoch = ulid.Make().String()
	for _, kv := range [][2][]byte{
		{keyEpoch, []byte(epoch)},
		{keyVersion, encodeKey(formatVersion)},
		{keyHead, encodeKey(0)},
	} {
		if err := meta.Put(kv[0], kv[1]); err != nil {
			return "", 0, err
		}
	}
	return epoch, 0, nil
}

// readHead returns the head stored in tx's snapshot.
func readHead(tx *bbolt.Tx) (uint64, error) {
	v := tx.Bucket(bucketMeta).Get(keyHead)
	if len(v) != 8 {
		return 0, fmt.Errorf("head: %w", errCorrupt)
	}
	return decodeUint(v), nil
}

func decodeUint(b []byte) uint64 {
	off, _ := decodeKey(b) // callers checked the length
	return off
}

// Epoch returns the epoch created with the file. It is also valid after
// Close.
func (l *Log) Epoch() string { return l.epoch }

// Head returns the offset of the last committed event, 0 when empty. It
// never goes backwards and is updated after the commit is durable. After
// Close it returns the last head.
func (l *Log) Head() uint64 { return l.head.Load() }

// raiseHead sets the head to h unless it is already higher (concurrent
// commits may report out of order).
func (l *Log) raiseHead(h uint64) {
	for {
		old := l.head.Load()
		if h <= old || l.head.CompareAndSwap(old, h) {
			return
		}
	}
}

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

// Close waits for operations in flight, then closes the file. Closing
// twice returns an error wrapping broker.ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("bolt: close: %w", broker.ErrClosed)
	}
	l.closed = true
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("bolt: close: %w", err)
	}
	return nil
}

// Backup writes a consistent copy of the whole file to w while the log
// stays online: it runs in a read transaction, so Appends continue (the
// copy does not include them). The copy is a valid bbolt file that Open
// accepts, with the same epoch. It returns the number of bytes written and
// the first error of w or of reading the file; after an error the bytes
// written are not a usable copy.
func (l *Log) Backup(w io.Writer) (int64, error) {
	if err := l.acquire("backup"); err != nil {
		return 0, err
	}
	defer l.mu.RUnlock()
	var n int64
	err := l.db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("bolt: backup: %w", err)
	}
	return n, nil
}
