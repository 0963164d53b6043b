package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    time.Duration
		wantErr bool
	}{
		{
			// user nice system idle iowait irq softirq steal guest guest_nice:
			// busy = 100+5+50+3+2+10 ticks (guest is in user already).
			name: "busy is user nice system irq softirq steal",
			data: "cpu  100 5 50 9000 40 3 2 10 7 0\ncpu0 50 2 25 4500 20 1 1 5 3 0\n",
			want: 170 * 10 * time.Millisecond,
		},
		{name: "older kernel without guest fields", data: "cpu 1 0 1 10 0 0 0 0\n", want: 20 * time.Millisecond},
		{name: "not the cpu line", data: "intr 1 2 3 4 5 6 7 8 9\n", wantErr: true},
		{name: "too short", data: "cpu 1 2 3\n", wantErr: true},
		{name: "not a number", data: "cpu x 0 0 0 0 0 0 0 0\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tc.data))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseProcStat = %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParsePIDStat(t *testing.T) {
	// Fields 14..17 are utime stime cutime cstime.
	fields := "S 1 2 3 4 5 6 7 8 9 10 %s 0 0 20 0 1 0 100"
	tests := []struct {
		name    string
		data    string
		want    time.Duration
		wantErr bool
	}{
		{name: "utime stime cutime cstime", data: "42 (rtbroker) " + strings.Replace(fields, "%s", "300 200 40 60", 1), want: 6 * time.Second},
		{name: "a name with spaces and parentheses", data: "42 (a) (b c)) " + strings.Replace(fields, "%s", "1 1 0 0", 1), want: 20 * time.Millisecond},
		{name: "no name", data: "42 S 1 2", wantErr: true},
		{name: "cut short", data: "42 (x) S 1 2 3", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePIDStat([]byte(tc.data))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parsePIDStat = %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestOtherLoad(t *testing.T) {
	tests := []struct {
		name               string
		machine, own, wall time.Duration
		want               float64
	}{
		{"others used half a core", 15 * time.Second, 10 * time.Second, 10 * time.Second, 50},
		{"nothing else ran", 10 * time.Second, 10 * time.Second, 10 * time.Second, 0},
		// Tick rounding can put the benchmark's own time above the machine's.
		{"own above machine is 0, not negative", 9 * time.Second, 10 * time.Second, 10 * time.Second, 0},
		{"two busy cores of others", 25 * time.Second, 5 * time.Second, 10 * time.Second, 200},
		{"no time passed", time.Second, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := otherLoad(tc.machine, tc.own, tc.wall); got != tc.want {
				t.Errorf("otherLoad = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCPUMeter reads this machine's /proc: the benchmark's own time is
// this process's, and the other load is a percentage (no bound on it: the
// machine is shared).
func TestCPUMeter(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc")
	}
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	if d, err := parsePIDStat(data); err != nil || d < 0 {
		t.Errorf("/proc/self/stat: %v, %v", d, err)
	}
	noServer := func() time.Duration { return 0 }
	m := startCPUMeter(noServer)
	time.Sleep(50 * time.Millisecond)
	got, err := m.otherPct(noServer, 0)
	if err != nil || got < 0 {
		t.Errorf("otherPct = %v, %v", got, err)
	}
}

func TestOtherLoadReport(t *testing.T) {
	pct := func(v float64) *float64 { return &v }
	scs, err := selectScenarios(plan(fullSizes), []string{"fanout-5k", "rooms"}, "both")
	if err != nil {
		t.Fatal(err)
	}
	runs := []run{
		{Scenario: "fanout-5k", Target: "rtbroker", Rep: 1, Attempt: 1, Status: statusOK, OtherCPU: pct(4)},
		{Scenario: "fanout-5k", Target: "rtbroker", Rep: 2, Attempt: 1, Status: statusOK, OtherCPU: pct(10)},
		{Scenario: "fanout-5k", Target: "rtbroker", Rep: 3, Attempt: 1, Status: statusOK, OtherCPU: pct(6)},
		{Scenario: "fanout-5k", Target: "node", Rep: 1, Attempt: 1, Status: statusOK, OtherCPU: pct(140)},
		// A superseded attempt does not count.
		{Scenario: "rooms", Target: "rtbroker", Rep: 1, Attempt: 1, Status: statusLoadBound, OtherCPU: pct(90)},
		{Scenario: "rooms", Target: "rtbroker", Rep: 1, Attempt: 2, Status: statusOK, OtherCPU: pct(2)},
		// Results written before other load was measured.
		{Scenario: "rooms", Target: "node", Rep: 1, Attempt: 1, Status: statusOK, LoadAvg: 9},
	}
	tests := []struct {
		name  string
		runs  []run
		wants []string
		nots  []string
	}{
		{
			name: "per scenario, with a warning",
			runs: runs,
			wants: []string{
				"| scenario | rtbroker | node |",
				"| (a) fan-out, 1 room × 5k WS | 6 % (10 %) | 140 % (140 %) ⚠ |",
				"| (b) 10k subs over 1k rooms, 2k events/s | 2 % (2 %) | — |",
				"**The machine was busy with other work**: in 1 run(s) processes other than the benchmark's used more than 25 % of a core (up to 140 %",
			},
		},
		{
			name:  "quiet machine: no warning",
			runs:  runs[:3],
			wants: []string{"| (a) fan-out, 1 room × 5k WS | 6 % (10 %) | — |"},
			nots:  []string{"was busy", "⚠ |"},
		},
		{
			name: "old results: no other-load section, no load-average guess",
			runs: runs[6:],
			nots: []string{"Other load", "was busy", "load average"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			md := results{Date: "2026-12-06T09:00:00Z", Reps: 3, Runs: tc.runs}.markdown(scs)
			for _, w := range tc.wants {
				if !strings.Contains(md, w) {
					t.Errorf("report lacks %q:\n%s", w, md)
				}
			}
			for _, n := range tc.nots {
				if strings.Contains(md, n) {
					t.Errorf("report has %q:\n%s", n, md)
				}
			}
		})
	}
}
