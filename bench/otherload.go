package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// maxOtherCPU is the CPU that processes other than the benchmark's may use
// during a step (% of one core, averaged over the step) before the report
// warns that the machine was busy: on two cores shared with the server and
// the load tool, a quarter of a core taken by someone else shows in the
// figures.
const maxOtherCPU = 25

// userHZ is the unit of the CPU times in /proc/stat and /proc/PID/stat
// (USER_HZ, 100 on every Linux architecture).
const userHZ = 100

// A cpuMeter measures, over one step, the CPU time the whole machine spent
// busy minus the CPU time of the benchmark's own processes (the server,
// the load tool and their children, and this program): the load other
// work put on the machine. A load average cannot tell these apart, as it
// counts the benchmark itself.
type cpuMeter struct {
	start   time.Time
	busy    time.Duration // machine, at start
	own     time.Duration // this program and the server, at start
	readErr error
}

// startCPUMeter samples the machine and the benchmark's processes now;
// server returns the server's CPU time so far (restarts included).
func startCPUMeter(server func() time.Duration) *cpuMeter {
	m := &cpuMeter{start: time.Now()}
	m.busy, m.readErr = machineBusy()
	m.own = selfCPU() + server()
	return m
}

// otherPct ends the measurement: tool is the CPU time of the load tool and
// its children (from its exit status), server the server's as for
// startCPUMeter. It returns the other load as % of one core over the
// step, or an error when /proc could not be read.
func (m *cpuMeter) otherPct(server func() time.Duration, tool time.Duration) (float64, error) {
	busy, err := machineBusy()
	if err != nil || m.readErr != nil {
		return 0, fmt.Errorf("other load: %w", cmpErr(m.readErr, err))
	}
	own := selfCPU() + server() - m.own + tool
	return otherLoad(busy-m.busy, own, time.Since(m.start)), nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// otherLoad is the CPU the machine spent busy that the benchmark did not
// spend, as % of one core over wall time (0 when the benchmark's own time,
// measured by other clocks, is the larger).
func otherLoad(machine, own, wall time.Duration) float64 {
	if wall <= 0 || machine <= own {
		return 0
	}
	return float64(machine-own) / float64(wall) * 100
}

// machineBusy is the CPU time all cores spent not idle since boot, from the
// first line of /proc/stat: user, nice, system, irq, softirq and steal
// (time the hypervisor gave to others is load too; guest time is already
// in user); idle and iowait are not busy.
func machineBusy() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseProcStat(data)
}

// parseProcStat reads the busy ticks of the "cpu" line of /proc/stat.
func parseProcStat(data []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %.80q", line)
	}
	var ticks uint64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system [idle iowait] irq softirq steal
		v, err := strconv.ParseUint(string(f[i]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		ticks += v
	}
	return ticksToDuration(ticks), nil
}

// procCPU is the CPU time of process pid and of its children it has waited
// for (utime, stime, cutime, cstime of /proc/PID/stat); 0 when pid is 0 or
// gone.
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	d, _ := parsePIDStat(data)
	return d
}

func selfCPU() time.Duration { return procCPU(os.Getpid()) }

// parsePIDStat reads utime+stime+cutime+cstime (fields 14 to 17) of a
// /proc/PID/stat line; the command name (field 2) may hold spaces and
// parentheses, so fields are counted after its last ')'.
func parsePIDStat(data []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/PID/stat: no command name in %.80q", data)
	}
	f := bytes.Fields(data[i+1:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return 0, fmt.Errorf("/proc/PID/stat: %d fields after the name", len(f))
	}
	var ticks uint64
	for _, s := range f[11:15] { // fields 14..17
		v, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/PID/stat: %w", err)
		}
		ticks += uint64(max(v, 0))
	}
	return ticksToDuration(ticks), nil
}

func ticksToDuration(t uint64) time.Duration {
	return time.Duration(t) * (time.Second / userHZ)
}
