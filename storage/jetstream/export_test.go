package jetstream

import "context"

// LeaderNext exposes leaderNext to the external tests: the offset of the
// first event of room at or after seq as the stream leader has it (0 when
// none).
func (l *Log) LeaderNext(ctx context.Context, room string, seq uint64) (uint64, error) {
	off, _, err := l.leaderNext(ctx, l.subject(room), seq)
	return off, err
}

// SetBeforeRoomRead makes Read call f before it reads each room.
func (l *Log) SetBeforeRoomRead(f func(room string)) { l.beforeRoomRead = f }

// SetSilenceMarks makes each Follow ask f whether its watch of the trim
// watermarks is to deliver nothing.
func (l *Log) SetSilenceMarks(f func() bool) { l.silenceMarks = f }

// LeaderValue exposes leaderValue: key's stored value as the bucket's
// leader has it (nil when it has none).
func (s *State) LeaderValue(ctx context.Context, key string) ([]byte, error) {
	return s.leaderValue(ctx, key)
}
