package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of the CPU times in /proc/PID/stat (USER_HZ,
// 100 on every Linux the tool runs on).
const clockTick = 10 * time.Millisecond

// procCPU returns the CPU time (user + system) process pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields count from the
	// last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	utime, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// procRSS returns the resident set size (VmRSS) of process pid, bytes.
func procRSS(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(v)
			if len(f) == 2 && string(f[1]) == "kB" {
				kb, err := strconv.ParseUint(string(f[0]), 10, 64)
				if err == nil {
					return kb << 10, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// settleRSS samples pid's RSS every `every` until it has stayed within
// tol (a fraction) of the window's first sample for `window`, or bound
// passes; it returns the last sample and whether it settled.
func settleRSS(ctx context.Context, pid int, every, window time.Duration, tol float64, bound time.Duration) (uint64, bool, error) {
	deadline := time.Now().Add(bound)
	ref, err := procRSS(pid)
	if err != nil {
		return 0, false, err
	}
	since := time.Now()
	for {
		select {
		case <-time.After(every):
		case <-ctx.Done():
			return ref, false, ctx.Err()
		}
		rss, err := procRSS(pid)
		if err != nil {
			return 0, false, err
		}
		if d := float64(rss) - float64(ref); d > tol*float64(ref) || -d > tol*float64(ref) {
			ref, since = rss, time.Now()
		} else if time.Since(since) >= window {
			return rss, true, nil
		}
		if time.Now().After(deadline) {
			return rss, false, nil
		}
	}
}

// cpuMeter measures the CPU that a set of processes uses over an
// interval, in % of one core.
type cpuMeter struct {
	pids  []int
	start time.Time
	used  map[int]time.Duration
}

// startCPU starts measuring pids (processes that cannot be read are
// skipped).
func startCPU(pids ...int) *cpuMeter {
	m := &cpuMeter{pids: pids, start: time.Now(), used: map[int]time.Duration{}}
	for _, p := range pids {
		if d, err := procCPU(p); err == nil {
			m.used[p] = d
		}
	}
	return m
}

// include adds a process started after startCPU (all its CPU counts).
func (m *cpuMeter) include(pid int) {
	if _, ok := m.used[pid]; !ok {
		m.pids = append(m.pids, pid)
		m.used[pid] = 0
	}
}

// pct returns the CPU used since startCPU, in % of one core; ok is false
// when no process could be read at both ends.
func (m *cpuMeter) pct() (float64, bool) {
	var used time.Duration
	ok := false
	for _, p := range m.pids {
		before, had := m.used[p]
		if !had {
			continue
		}
		if d, err := procCPU(p); err == nil {
			used += d - before
			ok = true
		}
	}
	el := time.Since(m.start)
	if !ok || el <= 0 {
		return 0, false
	}
	return 100 * float64(used) / float64(el), true
}
