package bolt

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/bbolt"

	"github.com/rtbroker/rtbroker/broker"
)

// Failing well: the storage boundary. Every bbolt transaction of a Log
// runs through view or update, which turn what the disk does wrong into
// the broker's error types and keep the log's Health:
//
//   - a write refused for lack of space or a read-only file system
//     (ENOSPC, EDQUOT, EROFS) wraps broker.ErrInsufficientStorage; the log
//     is degraded until a write succeeds;
//   - a panic of bbolt on a damaged page, or a record that does not
//     decode, becomes a *broker.CorruptionError; the log stays degraded
//     (the damage does not heal) and each damage is logged at ERROR once.

// FullLogInterval is the least time between two log lines about a full
// disk: the first refused write logs at ERROR, then at most one WARN line
// per interval counts the writes refused meanwhile, and one INFO line says
// when writes succeed again.
const FullLogInterval = time.Minute

// maxDamages is how many distinct damages Health lists and the log
// remembers having logged.
const maxDamages = 16

// Health is what the log knows about its storage. The zero value is
// healthy.
type Health struct {
	// Full is why the last write failed for lack of storage ("" when the
	// last write succeeded or none failed). It clears by itself when a
	// write succeeds again.
	Full string `json:"full,omitempty"`
	// Damaged lists the damaged parts reads have hit since Open (at most
	// 16, oldest first), each naming the offsets it made unreadable. It
	// never clears: stop the server and run `rtbroker check` and
	// `rtbroker recover`.
	Damaged []string `json:"damaged,omitempty"`
}

// Degraded reports whether h is anything but healthy.
func (h Health) Degraded() bool { return h.Full != "" || len(h.Damaged) > 0 }

// health is a Log's Health and the rate limit of its log lines; safe for
// concurrent use.
type health struct {
	logger *slog.Logger
	now    func() time.Time

	mu        sync.Mutex
	full      string    // guarded by mu: see Health.Full
	fullLog   time.Time // guarded by mu: when the last line about the full disk was written
	refused   int       // guarded by mu: writes refused since that line
	refusedT  int       // guarded by mu: writes refused since the disk filled
	announced bool      // guarded by mu: an ERROR line said the disk is full, no INFO line yet said it is not
	damaged   []string  // guarded by mu: see Health.Damaged
	seen      map[string]bool
}

func newHealth(logger *slog.Logger) *health {
	return &health{logger: logger, now: time.Now, seen: make(map[string]bool)}
}

// Health returns what the log knows about its storage now. It is safe to
// call at any time, also after Close.
func (l *Log) Health() Health {
	h := l.health
	h.mu.Lock()
	defer h.mu.Unlock()
	return Health{Full: h.full, Damaged: append([]string(nil), h.damaged...)}
}

// isStorageFull reports whether err says the file system refused to
// store more: bbolt wraps some of these errors with %s, so the message
// is checked as well as the chain.
func isStorageFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EROFS) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{syscall.ENOSPC.Error(), syscall.EDQUOT.Error(), syscall.EROFS.Error()} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// wrote records the outcome of a write transaction and returns err, made
// a broker.ErrInsufficientStorage when the disk refused it. Lines about a
// full disk share one rate limit (FullLogInterval): a disk that fills
// again soon after it had room is not announced again, and its return is
// logged only after an announcement.
func (h *health) wrote(err error) error {
	if err == nil {
		h.mu.Lock()
		if h.full != "" {
			if h.announced {
				h.logger.Info("storage: writes succeed again", "refused", h.refusedT)
			}
			h.full, h.refused, h.refusedT, h.announced = "", 0, 0, false
		}
		h.mu.Unlock()
		return nil
	}
	if !isStorageFull(err) {
		return err
	}
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.refused++
	h.refusedT++
	h.full = err.Error()
	if !h.fullLog.IsZero() && now.Sub(h.fullLog) < FullLogInterval {
		return fmt.Errorf("%w: %w", broker.ErrInsufficientStorage, err)
	}
	if h.announced {
		h.logger.Warn("storage: still full or read-only", "refused", h.refused, "err", err)
	} else {
		h.logger.Error("storage: the disk is full or read-only: publishes are refused (507) until writes succeed again", "err", err)
		h.announced = true
	}
	h.fullLog = now
	h.refused = 0
	return fmt.Errorf("%w: %w", broker.ErrInsufficientStorage, err)
}

// damage records a damaged part hit by an operation that covered the
// offsets from..to (to 0: up to the head) and returns its error. It logs
// each distinct damage at ERROR once.
func (h *health) damage(from, to uint64, detail string) error {
	ce := &broker.CorruptionError{From: from, To: to, Detail: detail}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.seen[detail] && len(h.seen) < maxDamages {
		h.seen[detail] = true
		h.damaged = append(h.damaged, ce.Error()+": "+detail)
		h.logger.Error("storage: damaged data: run `rtbroker check` and `rtbroker recover` on a stopped copy",
			"from", from, "to", to, "detail", detail)
	}
	return ce
}

// view runs fn in a read transaction. A bbolt panic (a damaged page) or an
// error wrapping errCorrupt becomes a *broker.CorruptionError covering the
// offsets from..to (to 0: up to the head).
func (l *Log) view(from, to uint64, fn func(*bbolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil { // bbolt.DB.View rolled the transaction back
			err = l.health.damage(from, to, fmt.Sprintf("bbolt panic: %v", r))
		}
	}()
	err = l.db.View(fn)
	if err != nil && errors.Is(err, errCorrupt) {
		return l.health.damage(from, to, err.Error())
	}
	return err
}

// update runs fn in a write transaction, as view does for damage, and
// records its outcome in the health: a full or read-only disk wraps
// broker.ErrInsufficientStorage.
func (l *Log) update(from, to uint64, fn func(*bbolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil { // bbolt.DB.Update rolled the transaction back
			err = l.health.damage(from, to, fmt.Sprintf("bbolt panic: %v", r))
		}
	}()
	err = l.db.Update(fn)
	if err != nil && errors.Is(err, errCorrupt) {
		return l.health.damage(from, to, err.Error())
	}
	return l.health.wrote(err)
}
