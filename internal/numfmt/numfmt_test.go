package numfmt

import "testing"

func TestGroup3(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0", "999": "999", "1000": "1,000", "1234567": "1,234,567",
		"-1234": "-1,234", "-999": "-999", "100000": "100,000",
	} {
		if got := Group3(in); got != want {
			t.Errorf("Group3(%q) = %q, want %q", in, got, want)
		}
	}
}
