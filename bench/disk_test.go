package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestProbeDisk: the probe times real commits in a temporary directory,
// leaves no file behind, and its figures go into the page's header.
func TestProbeDisk(t *testing.T) {
	dir := t.TempDir()
	d, err := probeDisk(dir, 20, 3, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if d.BusyP50Ms <= 0 || d.BusyP99Ms < d.BusyP50Ms || d.IdleP50Ms <= 0 || d.IdleP99Ms < d.IdleP50Ms ||
		d.OneBusyP50Ms <= 0 || d.OneIdleP50Ms <= 0 {
		t.Errorf("figures %+v: want positive, p99 ≥ p50", *d)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the probe left %d file(s) behind", len(left))
	}
	m := machineInfo{Cores: 2, CPU: "test CPU", Disk: d}
	if s := m.describe(); !strings.Contains(s, "two `fdatasync`s") || !strings.Contains(s, "one every 100 ms") {
		t.Errorf("describe() = %q: no disk figures", s)
	}
	if _, err := probeDisk(dir+"/missing", 1, 1, 0); err == nil {
		t.Error("a probe in a missing directory did not fail")
	}
}
