package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rtbroker/rtbroker/broker"
)

// parseRetentionRules parses --retention-rules: comma-separated
// PATTERN=AGE[/COUNT] rules, first match wins. AGE is a Go duration
// ("1h", "90m"), a number of days ("30d"), or "forever" / "0" (no age
// limit); COUNT keeps at most that many events per room (absent or 0: no
// count limit). "dm:*=forever" keeps dm:* rooms whatever the default is.
func parseRetentionRules(s string) ([]broker.RetentionRule, error) {
	var rules []broker.RetentionRule
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		pattern, limits, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("rule %q: want PATTERN=AGE[/COUNT]", item)
		}
		age, count, hasCount := strings.Cut(limits, "/")
		r := broker.RetentionRule{Pattern: strings.TrimSpace(pattern)}
		var err error
		if r.MaxAge, err = parseAge(strings.TrimSpace(age)); err != nil {
			return nil, fmt.Errorf("rule %q: %w", item, err)
		}
		if hasCount {
			if r.MaxCount, err = strconv.Atoi(strings.TrimSpace(count)); err != nil || r.MaxCount < 0 {
				return nil, fmt.Errorf("rule %q: COUNT must be a whole number", item)
			}
		}
		if err := r.Validate(); err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// parseAge parses a rule's AGE: a Go duration, Nd (days), or forever.
func parseAge(s string) (time.Duration, error) {
	switch {
	case s == "forever" || s == "0" || s == "":
		return 0, nil
	case strings.HasSuffix(s, "d"):
		days, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err != nil || days < 0 {
			return 0, fmt.Errorf("AGE %q: want a duration (1h, 30d) or forever", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("AGE %q: want a duration (1h, 30d) or forever", s)
	}
	return d, nil
}
