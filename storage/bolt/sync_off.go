//go:build rtbroker_nofsync

package bolt

// journalSync is false in a build with the tag rtbroker_nofsync, which the
// benchmark (bench/) makes as the ceiling of its rooms row: rtbroker with
// the journal's fdatasync left out, to measure what the durable commit
// costs beside everything else. Such a build acknowledges events that a
// crash loses: never serve with it (Open logs a warning).
const journalSync = false
