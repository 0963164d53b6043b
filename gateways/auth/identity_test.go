package auth

import (
	"strings"
	"testing"
)

// TestMatchPatternSameAsSplit checks the allocation-free matcher of
// patterns without {sub} against matching the split pattern, over every
// pattern and room of up to five characters from {a, b, *} and {a, b}.
func TestMatchPatternSameAsSplit(t *testing.T) {
	words := func(alphabet string, max int) []string {
		out := []string{""}
		for n, last := 0, []string{""}; n < max; n++ {
			var next []string
			for _, w := range last {
				for _, c := range alphabet {
					next = append(next, w+string(c))
				}
			}
			out, last = append(out, next...), next
		}
		return out
	}
	rooms := words("ab", 5)
	for _, p := range words("ab*", 5) {
		for _, room := range rooms {
			if got, want := matchPattern(p, room), matchParts(strings.Split(p, "*"), room); got != want {
				t.Errorf("matchPattern(%q, %q) = %v, split match %v", p, room, got, want)
			}
		}
	}
}
