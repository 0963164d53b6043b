// Package brokertest holds what every broker.Log implementation is measured
// against: MemLog, a real in-memory Log (the reference implementation, and
// the log gateway and broker tests run on), and TestLog, the conformance
// suite that each storage backend runs in its own tests.
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
package brokertest
