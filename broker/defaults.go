package broker

import "time"

// The defaults of Config's fields (a zero field takes its default). The
// command's flags default to these too.
const (
	// DefaultTailSize is Config.TailSize's default: recent events kept
	// in memory for live subscribers.
	DefaultTailSize = 16384
	// DefaultMaxBatch is Config.MaxBatch's default: publishes that share
	// one Log.Append (one transaction, one fsync) at most.
	DefaultMaxBatch = 1024
	// DefaultMaxDataSize is Config.MaxDataSize's default, in bytes.
	DefaultMaxDataSize = 64 << 10
	// DefaultRetentionInterval is Config.RetentionInterval's default.
	DefaultRetentionInterval = time.Minute
)
