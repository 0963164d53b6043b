package broker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rtbroker/rtbroker/broker"
)

func TestRetentionFor(t *testing.T) {
	r := broker.Retention{
		MaxAge: time.Hour, MaxCount: 7, Idempotency: time.Minute,
		Rules: []broker.RetentionRule{
			{Pattern: "chat:*", MaxAge: 30 * 24 * time.Hour},
			{Pattern: "progress:*", MaxAge: time.Hour},
			{Pattern: "dm:*"},
			{Pattern: "chat:x", MaxCount: 1},
			{Pattern: "*:log:*", MaxCount: 3},
		},
	}
	tests := []struct {
		name      string
		room      string
		wantAge   time.Duration
		wantCount int
	}{
		{"first matching rule", "chat:general", 30 * 24 * time.Hour, 0},
		{"a later rule is shadowed", "chat:x", 30 * 24 * time.Hour, 0},
		{"forever", "dm:ada:bob", 0, 0},
		{"wildcard needs a character", "chat:", time.Hour, 7},
		{"inner literal", "svc:log:1", 0, 3},
		{"no rule: the default", "general", time.Hour, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := r.For(tc.room)
			if got.MaxAge != tc.wantAge || got.MaxCount != tc.wantCount || got.Idempotency != time.Minute || got.Rules != nil {
				t.Errorf("For(%q) = %+v, want age %v count %d", tc.room, got, tc.wantAge, tc.wantCount)
			}
		})
	}
}

func TestRetentionValidate(t *testing.T) {
	tests := []struct {
		name string
		r    broker.Retention
		ok   bool
	}{
		{"rules", broker.Retention{Rules: []broker.RetentionRule{{Pattern: "chat:*", MaxAge: time.Hour}, {Pattern: "*"}}}, true},
		{"empty pattern", broker.Retention{Rules: []broker.RetentionRule{{MaxAge: time.Hour}}}, false},
		{"bad character", broker.Retention{Rules: []broker.RetentionRule{{Pattern: "chat/*"}}}, false},
		{"negative age", broker.Retention{Rules: []broker.RetentionRule{{Pattern: "a", MaxAge: -1}}}, false},
		{"negative default", broker.Retention{MaxCount: -1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Validate()
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, broker.ErrInvalid)) {
				t.Errorf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestRetentionRemovesEvents(t *testing.T) {
	tests := []struct {
		name string
		r    broker.Retention
		want bool
	}{
		{"nothing", broker.Retention{Idempotency: time.Hour}, false},
		{"default", broker.Retention{MaxAge: time.Hour}, true},
		{"a rule only", broker.Retention{Rules: []broker.RetentionRule{{Pattern: "p:*", MaxAge: time.Hour}}}, true},
		{"forever rules only", broker.Retention{Rules: []broker.RetentionRule{{Pattern: "dm:*"}}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.RemovesEvents(); got != tc.want {
				t.Errorf("RemovesEvents() = %v, want %v", got, tc.want)
			}
		})
	}
}
