package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rtbroker/rtbroker/broker"
)

// parseRetentionRules parses --retention-rules: comma-separated
// PATTERN=AGE[/COUNT] rules, first match wins (see parseRetentionRule).
func parseRetentionRules(s string) ([]broker.RetentionRule, error) {
	var rules []broker.RetentionRule
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		r, err := parseRetentionRule(item)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// parseRetentionRule parses one rule, PATTERN=AGE[/COUNT]. AGE is a Go
// duration ("1h", "90m"), a number of days ("30d"), or "forever" / "0"
// (no age limit); COUNT keeps at most that many events per room (absent
// or 0: no count limit). "dm:*=forever" keeps dm:* rooms whatever the
// default is. Errors quote the rule.
func parseRetentionRule(item string) (broker.RetentionRule, error) {
	pattern, limits, ok := strings.Cut(item, "=")
	if !ok {
		return broker.RetentionRule{}, fmt.Errorf("rule %q: want PATTERN=AGE[/COUNT]", item)
	}
	age, count, hasCount := strings.Cut(limits, "/")
	r := broker.RetentionRule{Pattern: strings.TrimSpace(pattern)}
	var err error
	if r.MaxAge, err = parseAge(strings.TrimSpace(age)); err != nil {
		return r, fmt.Errorf("rule %q: %w", item, err)
	}
	if hasCount {
		if r.MaxCount, err = strconv.Atoi(strings.TrimSpace(count)); err != nil || r.MaxCount < 0 {
			return r, fmt.Errorf("rule %q: COUNT must be a whole number", item)
		}
	}
	if err := r.Validate(); err != nil {
		return r, fmt.Errorf("rule %q: %w", item, err)
	}
	return r, nil
}

// retentionRules returns the retention rules in force: the policy file's
// retention_rules when it has them (each item one rule; errors name the
// file, the key and the item's index), else --retention-rules. A file
// with retention_rules and an explicit --retention-rules (or
// RTBROKER_RETENTION_RULES) is refused by loadPolicy: use one.
func (c *config) retention() ([]broker.RetentionRule, error) {
	p, err := c.loadPolicy()
	if err != nil {
		return nil, err
	}
	if !p.RetentionInFile {
		return c.retentionRules, nil
	}
	rules := make([]broker.RetentionRule, 0, len(p.RetentionRules))
	for i, item := range p.RetentionRules {
		r, err := parseRetentionRule(strings.TrimSpace(item))
		if err != nil {
			return nil, fmt.Errorf("--policy %s: retention_rules[%d]: %w", c.Policy, i, err)
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
