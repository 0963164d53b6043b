//go:build !rtbroker_nofsync

package bolt

// journalSync says whether a journal write is followed by fdatasync before
// Append returns: always, except in a benchmark build (sync_off.go).
const journalSync = true
