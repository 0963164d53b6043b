package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"
)

// diskInfo is what a bbolt commit's two syncs cost on the file system of
// the servers' data directories, measured by the suite before its first
// scenario (`bench disk`, pinned to core 0 like the servers): the floor
// under every durable figure of the run. Nil in results written before it.
type diskInfo struct {
	// Back to back: one commit after another, the disk and the core busy.
	BusyP50Ms float64 `json:"busy_p50_ms"`
	BusyP99Ms float64 `json:"busy_p99_ms"`
	// Idle: one commit every 100 ms (10 events/s one at a time), the core
	// and the disk idle in between.
	IdleP50Ms float64 `json:"idle_p50_ms"`
	IdleP99Ms float64 `json:"idle_p99_ms"`
	// One sync: the same pages written in place then one fdatasync, back
	// to back and one every 100 ms: what a log whose commit is one sync
	// (an append-only file written ahead) would pay.
	OneBusyP50Ms float64 `json:"one_sync_busy_p50_ms"`
	OneIdleP50Ms float64 `json:"one_sync_idle_p50_ms"`
}

func (d *diskInfo) describe() string {
	if d == nil {
		return ""
	}
	return fmt.Sprintf("; disk (the data directories' file system, `bench disk` before the first scenario), a commit's page writes and two `fdatasync`s as bbolt makes them: back to back p50 %.2f / p99 %.2f ms, one every 100 ms p50 %.2f / p99 %.2f ms; with one `fdatasync` instead: p50 %.2f / %.2f ms",
		d.BusyP50Ms, d.BusyP99Ms, d.IdleP50Ms, d.IdleP99Ms, d.OneBusyP50Ms, d.OneIdleP50Ms)
}

// Sizes of the probe: bbolt's 8 KiB pages, three data pages (a leaf, its
// branch, the freelist) then one meta page per commit, as a one-event
// commit of rtbroker's log writes them.
const (
	probePage      = 8192
	probeDataPages = 3
	probeBusy      = 1000
	probeIdle      = 60
	probeIdleGap   = 100 * time.Millisecond
)

// diskCommand is `bench disk --dir DIR`: it times commit-like writes in a
// file of DIR and prints a diskInfo as JSON.
func diskCommand(args []string) error {
	fs := flag.NewFlagSet("disk", flag.ContinueOnError)
	dir := fs.String("dir", os.TempDir(), "directory on the file system to measure")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, err := probeDisk(*dir, probeBusy, probeIdle, probeIdleGap)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(d)
}

// probeDisk times busyN commits back to back, then idleN commits gap
// apart, in a file of dir that was written whole first (so that a sync
// flushes data, not the allocation of new blocks, as in a bbolt file that
// bbolt grows ahead of its writes).
func probeDisk(dir string, busyN, idleN int, gap time.Duration) (*diskInfo, error) {
	f, err := os.CreateTemp(dir, "disk-probe-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	slots := busyN + idleN
	buf := make([]byte, probeDataPages*probePage)
	for i := range 2 + slots {
		if _, err := f.WriteAt(buf, int64(i)*int64(len(buf))); err != nil {
			return nil, err
		}
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	commit := func(i int) (time.Duration, error) {
		t := time.Now()
		if _, err := f.WriteAt(buf, int64(2+i)*int64(len(buf))); err != nil {
			return 0, err
		}
		if err := syscall.Fdatasync(fd); err != nil {
			return 0, err
		}
		if _, err := f.WriteAt(buf[:probePage], int64(i%2)*probePage); err != nil { // the meta page
			return 0, err
		}
		if err := syscall.Fdatasync(fd); err != nil {
			return 0, err
		}
		return time.Since(t), nil
	}
	oneSync := func(i int) (time.Duration, error) {
		t := time.Now()
		if _, err := f.WriteAt(buf, int64(2+i)*int64(len(buf))); err != nil {
			return 0, err
		}
		err := syscall.Fdatasync(fd)
		return time.Since(t), err
	}
	run := func(c func(int) (time.Duration, error), n int, gap time.Duration) ([]time.Duration, error) {
		ds := make([]time.Duration, 0, n)
		for i := range n {
			if gap > 0 {
				time.Sleep(gap)
			}
			d, err := c(i % slots)
			if err != nil {
				return nil, err
			}
			ds = append(ds, d)
		}
		return ds, nil
	}
	var d diskInfo
	for _, m := range []struct {
		c        func(int) (time.Duration, error)
		n        int
		gap      time.Duration
		p50, p99 *float64
	}{
		{commit, busyN, 0, &d.BusyP50Ms, &d.BusyP99Ms},
		{commit, idleN, gap, &d.IdleP50Ms, &d.IdleP99Ms},
		{oneSync, busyN, 0, &d.OneBusyP50Ms, new(float64)},
		{oneSync, idleN, gap, &d.OneIdleP50Ms, new(float64)},
	} {
		ds, err := run(m.c, m.n, m.gap)
		if err != nil {
			return nil, err
		}
		*m.p50, *m.p99 = quantiles(ds)
	}
	return &d, nil
}

// quantiles returns the p50 and p99 of ds in milliseconds (nearest rank).
func quantiles(ds []time.Duration) (p50, p99 float64) {
	slices.Sort(ds)
	at := func(q float64) float64 {
		ms := float64(ds[int(q*float64(len(ds)-1)+0.5)]) / float64(time.Millisecond)
		return float64(int64(ms*100+0.5)) / 100
	}
	return at(0.5), at(0.99)
}

// measureDisk runs `bench disk` pinned to core 0 (where the servers run)
// on dir; nil, with a warning, when it fails.
func measureDisk(ctx context.Context, self, dir string) *diskInfo {
	out, err := exec.CommandContext(ctx, "taskset", "-c", "0", self, "disk", "--dir", dir).Output()
	var d diskInfo
	if err == nil {
		err = json.Unmarshal(out, &d)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: the disk probe failed:", err)
		return nil
	}
	return &d
}
