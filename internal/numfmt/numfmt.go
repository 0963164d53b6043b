// Package numfmt formats figures for the benchmark reports of bench and
// cmd/rtbench.
package numfmt

import "strings"

// Group3 puts thousands separators into a decimal integer:
// "1234567" → "1,234,567", "-1234" → "-1,234".
func Group3(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
