package broker

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// RetentionRule is the retention of the rooms whose names match Pattern:
// events older than MaxAge (when > 0) and all but the newest MaxCount
// (when > 0) are removed; a rule with both zero keeps its rooms' events
// forever.
//
// Pattern is literal text in which `*` stands for one or more characters
// of any kind ("chat:*" matches "chat:general" and "chat:a:b", not
// "chat:"; "*" matches every room), as in the authorization policy's room
// patterns (without {sub}).
type RetentionRule struct {
	Pattern  string        `json:"pattern"`
	MaxAge   time.Duration `json:"max_age"`
	MaxCount int           `json:"max_count"`
	// Before, when > 0, also removes the events with offsets below it:
	// a one-off cut (Broker.TrimRoom), not a configuration setting.
	Before uint64 `json:"-"`
}

// Match reports whether room is governed by the rule's pattern.
func (r RetentionRule) Match(room string) bool { return matchPattern(r.Pattern, room) }

// Validate reports whether the rule can be used: a pattern of 1 to
// MaxRoomLen bytes of room-name characters and `*`, and limits that are
// not negative. The error wraps ErrInvalid.
func (r RetentionRule) Validate() error {
	p := r.Pattern
	switch {
	case p == "":
		return invalid("retention pattern", "empty")
	case len(p) > MaxRoomLen:
		return invalid("retention pattern", "longer than %d bytes", MaxRoomLen)
	case r.MaxAge < 0 || r.MaxCount < 0:
		return invalid("retention rule", "%q: limits cannot be negative", p)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c != '*' && !nameByte(c) {
			return invalid("retention pattern", "%q: character %q not allowed (room characters and *)", p, c)
		}
	}
	return nil
}

// For returns the limits that apply to room: those of the first rule of
// r.Rules whose pattern matches it, else r's own MaxAge and MaxCount (the
// default). The result has no Rules; its Idempotency is r's.
func (r Retention) For(room string) Retention {
	out := Retention{MaxAge: r.MaxAge, MaxCount: r.MaxCount, Before: r.Before, Idempotency: r.Idempotency}
	for _, rule := range r.Rules {
		if rule.Match(room) {
			out.MaxAge, out.MaxCount, out.Before = rule.MaxAge, rule.MaxCount, rule.Before
			break
		}
	}
	return out
}

// RemovesEvents reports whether r may remove an event of some room: the
// default or one of the rules has a limit.
func (r Retention) RemovesEvents() bool {
	if r.MaxAge > 0 || r.MaxCount > 0 || r.Before > 0 {
		return true
	}
	for _, rule := range r.Rules {
		if rule.MaxAge > 0 || rule.MaxCount > 0 || rule.Before > 0 {
			return true
		}
	}
	return false
}

// Validate checks every rule (see RetentionRule.Validate) and the default
// limits. The error wraps ErrInvalid and names the first bad rule.
func (r Retention) Validate() error {
	if r.MaxAge < 0 || r.MaxCount < 0 || r.Idempotency < 0 {
		return invalid("retention", "limits cannot be negative")
	}
	for i, rule := range r.Rules {
		if err := rule.Validate(); err != nil {
			return fmt.Errorf("retention rule %d: %w", i+1, err)
		}
	}
	return nil
}

// matchPattern matches room against pattern, where `*` stands for one or
// more characters. Each literal is taken at its earliest place, which is
// optimal, so the match is linear per literal.
func matchPattern(pattern, room string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return room == pattern
	}
	if !strings.HasPrefix(room, parts[0]) {
		return false
	}
	rest := room[len(parts[0]):]
	last := len(parts) - 1
	for _, lit := range parts[1:last] {
		if len(rest) < 1 {
			return false
		}
		j := strings.Index(rest[1:], lit)
		if j < 0 {
			return false
		}
		rest = rest[1+j+len(lit):]
	}
	return len(rest) > len(parts[last]) && strings.HasSuffix(rest, parts[last])
}

// TrimRoom removes events of room now, whatever the configured retention:
// those with offsets below before (when before > 0) and all but the newest
// keep (when keep > 0); at least one of the two must be given. Like
// retention, it records the room's trim watermark, so a subscriber that
// later asks for a removed position is told with a reset (ErrTrimmed)
// and resumes at the earliest retained event; events already in the
// in-memory tail are still delivered to live subscribers that read them
// from there. It returns how many events it removed. Errors wrap
// ErrInvalid (bad room name, neither limit) or come from Log.Trim.
func (b *Broker) TrimRoom(ctx context.Context, room string, before uint64, keep int) (int, error) {
	if err := ValidateRoom(room); err != nil {
		return 0, err
	}
	if keep < 0 || before == 0 && keep == 0 {
		return 0, invalid("trim", "give an offset to trim before or a number of events to keep")
	}
	// The room's name is a pattern matching only itself (names have no *).
	r := Retention{Rules: []RetentionRule{{Pattern: room, MaxCount: keep, Before: before}}}
	return b.log.Trim(ctx, r, b.cfg.Now())
}

// CountAfter returns how many retained events of room have offsets above
// after, at most limit (see Log.CountAfter): what a reader whose read
// position is after has not read yet. Retention is taken into account: a
// position below the room's earliest retained event counts the retained
// events only. It fails with an error wrapping ErrInvalid (a bad room
// name or limit <= 0) or the log's error.
func (b *Broker) CountAfter(ctx context.Context, room string, after uint64, limit int) (int, error) {
	if err := ValidateRoom(room); err != nil {
		return 0, err
	}
	return b.log.CountAfter(ctx, room, after, limit)
}
