// Package brokertest holds what every broker.Log and broker.State
// implementation is measured against: MemLog, a real in-memory Log and
// State (the reference implementation of both, and the log gateway and
// broker tests run on), and TestLog and TestState, the conformance suites
// that each storage backend runs in its own tests.
//
// TestLog pins down the parts of the Log contract that the interface
// comments leave to prose: offsets are consecutive from 1 across all rooms;
// event fields round-trip exactly, Time to the nanosecond; Read.Through is
// the head at read time when fewer than limit events come back and the last
// returned offset otherwise; idempotency keys are scoped to their room and
// are remembered until Trim forgets them; trimming removes a prefix of each
// room and records the highest removed offset as that room's watermark; a
// closed log fails with broker.ErrClosed; and everything but uncommitted
// work survives a close and reopen.
//
// TestState does the same for the keyed state store: a later record of a
// key wins within a Put; a bad key or value writes nothing; Scan yields
// key order from one snapshot; an expired record is never returned, even
// before Expire removes it, and a Put renews a record's expiry; records
// survive a reopen; and for a StateLog, AppendWith commits events and
// records together or not at all.
package brokertest
