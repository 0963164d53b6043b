package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rtbroker/rtbroker/internal/numfmt"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		vals []float64
		want float64
	}{
		{"one", []float64{7}, 7},
		{"odd, unsorted", []float64{9, 1, 5}, 5},
		{"even: mean of the middle two", []float64{4, 1, 3, 10}, 3.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := median(tc.vals); got != tc.want {
				t.Errorf("median = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"count", unitCount.format(312000.4), "312,000"},
		{"small count", unitCount.format(999), "999"},
		{"millions", unitCount.format(1234567), "1,234,567"},
		{"negative", numfmt.Group3("-1234"), "-1,234"},
		{"millis", unitMillis.format(12.345), "12.3"},
		{"bytes as KB", unitBytes.format(8192), "8.0 KB"},
		{"seconds", unitSeconds.format(0.4249), "0.42 s"},
		{"target at least", formatTarget(atLeast(300000), unitCount), "≥ 300,000"},
		{"target at most", formatTarget(atMost(8*1024), unitBytes), "≤ 8.0 KB"},
		{"target zero", formatTarget(atMost(0), unitCount), "0"},
		{"no target", formatTarget(nil, unitCount), "—"},
		{"target the peer's", formatTarget(atMostPeer(), unitMillis), "≤ node"},
		{"peer target met", verdict(atMostPeer(), cell{median: 7, n: 1, of: 1}, cell{median: 7.5, n: 1, of: 1}), "yes"},
		{"peer target missed", verdict(atMostPeer(), cell{median: 8, n: 1, of: 1}, cell{median: 7.5, n: 1, of: 1}), "**no**"},
		{"peer target without the peer", verdict(atMostPeer(), cell{median: 8, n: 1, of: 1}, cell{}), "—"},
		{"kilo", kilo(15000), "15k"},
		{"not round", kilo(19900), "19,900"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

// result builds a run of fanout-5k with rtbench's JSON.
func result(tgt string, rep, attempt int, status string, json string) run {
	return run{Scenario: "fanout-5k", Target: tgt, Rep: rep, Attempt: attempt, Status: status, Result: []byte(json)}
}

func TestTable(t *testing.T) {
	fanout := func(v int) string { return fmt.Sprintf(`{"extra":{"max_deliveries_per_s":%d}}`, v) }
	scs, err := selectScenarios(plan(fullSizes), []string{"fanout-5k"}, "both")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		runs []run
		want string // the fanout-5k row, from the rtbroker column on
	}{
		{
			name: "medians, ratio, target met",
			runs: []run{
				result("rtbroker", 1, 1, statusOK, fanout(310000)), result("node", 1, 1, statusOK, fanout(70000)),
				result("rtbroker", 2, 1, statusOK, fanout(330000)), result("node", 2, 1, statusOK, fanout(60000)),
				result("rtbroker", 3, 1, statusOK, fanout(300000)), result("node", 3, 1, statusOK, fanout(65000)),
			},
			want: "| 310,000 | 65,000 | 4.77 | ≥ 300,000 | yes |",
		},
		{
			name: "a repeated load-bound attempt does not count",
			runs: []run{
				result("rtbroker", 1, 1, statusLoadBound, fanout(10)), result("rtbroker", 1, 2, statusOK, fanout(290000)),
				result("node", 1, 1, statusOK, fanout(29000)),
			},
			want: "| 290,000 | 29,000 | 10 | ≥ 300,000 | **no** |",
		},
		{
			name: "failed runs and marked runs",
			runs: []run{
				result("rtbroker", 1, 1, statusProblems, fanout(400000)), {Scenario: "fanout-5k", Target: "rtbroker", Rep: 2, Attempt: 1, Status: statusTimeout},
				{Scenario: "fanout-5k", Target: "node", Rep: 1, Attempt: 1, Status: statusFailed},
			},
			want: "| 400,000 * (1/2) | fail | — | ≥ 300,000 | yes |",
		},
		{
			name: "one server only",
			runs: []run{result("rtbroker", 1, 1, statusOK, fanout(1))},
			want: "| 1 | — | — | ≥ 300,000 | **no** |",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := table(scs, tc.runs)
			row := "| (a) fan-out, 1 room × 5k WS | deliveries/s ↑ " + tc.want
			if !strings.Contains(got, row+"\n") {
				t.Errorf("table:\n%s\nwant the row\n%s", got, row)
			}
		})
	}
}

// TestCeilingRows checks the ceiling's rows: ingest's against its own
// figure with issue 15's share, the drop storm's against the bare server's
// connect time (another path of its result, from other rtbench args), the
// rooms latency against rtbroker built without the journal's fdatasync
// (another server).
func TestCeilingRows(t *testing.T) {
	scs, err := selectScenarios(plan(fullSizes), []string{"ingest-64", "storm", "fanout-15k", "rooms"}, "both")
	if err != nil {
		t.Fatal(err)
	}
	ok := func(sc, tgt, json string) run {
		return run{Scenario: sc, Target: tgt, Rep: 1, Attempt: 1, Status: statusOK, Result: []byte(json)}
	}
	storm := `{"extra":{"recovered_s":1.5,"connect_s":1.4}}`
	got := table(scs, []run{
		ok("ingest-64", "rtbroker", `{"extra":{"ingest_events_per_s":18000}}`),
		ok("ingest-64", ceilingTarget, `{"extra":{"ingest_events_per_s":24000}}`),
		ok("storm-drop", "rtbroker", storm), ok("storm-drop", ceilingTarget, `{"extra":{"connect_s":1.2}}`),
		ok("storm-term", "rtbroker", storm), ok("storm-term", ceilingTarget, `{"extra":{"connect_s":1.2}}`),
		ok("fanout-15k", "rtbroker", `{"extra":{"passed_steps":0}}`), ok("fanout-15k", ceilingTarget, `{"extra":{"passed_steps":0}}`),
		ok("rooms", "rtbroker", `{"latency_ms":{"p50":1.5}}`), ok("rooms", "node", `{"latency_ms":{"p50":0.9}}`),
		ok("rooms", noSyncTarget, `{"latency_ms":{"p50":0.8}}`), ok("rooms", ceilingTarget, `{"latency_ms":{"p50":9}}`),
	})
	for _, want := range []string{
		"| (g) ingest, 1 KB over HTTP, 64 conns | events/s ↑, ceiling: " + httpCeiling + ", same run; ratio = rtbroker ÷ ceiling | 24,000 (ceiling) | — | 0.75 | rtbroker ≥ 0.70 × ceiling | yes |\n",
		"| (f) storm, 5k WS, clients dropped | s to recovered ↓, ceiling: " + stormCeiling.what + ", same run; ratio = rtbroker ÷ ceiling | 1.20 s (ceiling) | — | 1.25 | — | — |\n",
		"| (a) fan-out, 1 room × 15k WS | steps passed ↑, ceiling: " + fanoutCeiling.what + ", same run; ratio = rtbroker ÷ ceiling | 0 (ceiling) | — | 1 | — | — |\n",
		"| (b) 10k subs over 1k rooms, 2k events/s | p50 ms ↓, ceiling: " + noSyncCeiling.what + ", same run; ratio = rtbroker ÷ ceiling | 0.8 (ceiling) | — | 1.88 | — | — |\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table:\n%s\nwant the row\n%s", got, want)
		}
	}
	if strings.Contains(got, "(f) storm, 5k WS, server restart (SIGTERM) | s to recovered ↓, ceiling") {
		t.Errorf("table:\n%s\na restart storm has no ceiling row", got)
	}
	for _, sc := range scs {
		if sc.group != "storm" {
			continue
		}
		args := strings.Join(sc.steps[0].ceilingArgs, " ")
		if sc.id == "storm-drop" != slices.Contains(sc.targets, ceilingTarget) || (sc.id == "storm-drop") != (args == "conns --subs 5000 --duration 1s") {
			t.Errorf("%s: targets %v, the ceiling's rtbench %q", sc.id, sc.targets, args)
		}
	}
}

func TestProblems(t *testing.T) {
	runs := []run{
		result("rtbroker", 1, 1, statusOK, `{}`),
		result("node", 1, 1, statusLoadBound, `{}`), // superseded: not listed
		{Scenario: "fanout-5k", Target: "node", Rep: 1, Attempt: 2, Status: statusLoadBound, LoadCPU: 93},
		{Scenario: "replay", Label: "1 client", Target: "node", Rep: 2, Attempt: 1, Status: statusProblems, Problems: []string{"a", "b", "c", "d", "e"}},
	}
	want := []string{
		"fanout-5k, node, repetition 1: load-bound (load generator at 93 %)",
		"replay (1 client), node, repetition 2: problems: a; b; c; and 2 more",
	}
	if got := problems(runs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("problems:\n%q\nwant\n%q", got, want)
	}
}

func TestSelectScenarios(t *testing.T) {
	all := plan(fullSizes)
	tests := []struct {
		name    string
		only    []string
		target  string
		wantIDs string
		wantErr string
	}{
		{"a group", []string{"storm"}, "both", "storm-drop storm-term storm-kill", ""},
		{"an id and a group", []string{"fanout-15k", "ingest"}, "both", "fanout-15k ingest-64 ingest-256 ingest-256-batch16", ""},
		{"node skips what it does not serve", []string{"idle"}, "node", "idle-ws idle-polling", ""},
		{"rtbroker has every transport, and idle WS without the memory release", []string{"idle"}, "rtbroker", "idle-ws idle-ws-norelease idle-polling idle-sse idle-longpoll", ""},
		{"fan-out to 19,900", []string{"fanout-19.9k"}, "both", "fanout-19.9k", ""},
		{"replay runs on the Node peer", []string{"replay"}, "node", "replay", ""},
		{"unknown scenario", []string{"fanout", "nope"}, "both", "", `--only "nope"`},
		{"unknown target", nil, "nats", "", `--target "nats"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := selectScenarios(all, tc.only, tc.target)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, sc := range got {
				ids = append(ids, sc.id)
				if tc.target != "both" && (len(sc.targets) != 1 || sc.targets[0] != tc.target) {
					t.Errorf("%s runs on %v, want %s only", sc.id, sc.targets, tc.target)
				}
			}
			if strings.Join(ids, " ") != tc.wantIDs {
				t.Errorf("scenarios %v, want %s", ids, tc.wantIDs)
			}
		})
	}
}

// TestPlanCoversTheIssue checks that the full plan has every scenario of
// issue 5 and a target on each figure the issue sets one for, and that the
// quick plan is a subset that takes less time.
func TestPlanCoversTheIssue(t *testing.T) {
	full, quick := plan(fullSizes), plan(quickSizes)
	targets := map[string]bool{}
	for _, sc := range full {
		for _, st := range sc.steps {
			for _, m := range st.metrics {
				if m.target != nil {
					targets[sc.id+" "+m.name] = true
				}
			}
		}
	}
	for _, want := range []string{"fanout-5k deliveries/s", "latency-5k p50 ms", "latency-5k p99 ms", "idle-ws RSS/conn", "idle-sse RSS/conn",
		"ingest-64 events/s", "ingest-256 events/s", "replay events/s", "storm-drop s to recovered", "storm-kill missed", "conns connect failures",
		// Issue 15.
		"fanout-15k deliveries/s", "fanout-15k steps passed",
		"idle-ws RSS/conn 10 s after the last connect", "idle-ws RSS/conn 60 s after the last connect",
		"idle-ws-norelease RSS/conn 10 s after the last connect", "idle-ws-norelease RSS/conn 60 s after the last connect",
		"idle-polling RSS/conn", "idle-longpoll RSS/conn", "rooms p50 ms", "rooms p99 ms", "latency-1k p50 ms", "latency-1k p99 ms"} {
		if !targets[want] {
			t.Errorf("no target on %s", want)
		}
	}
	if g := strings.Join(groups(full), " "); g != "fanout rooms latency idle replay storm ingest conns" {
		t.Errorf("groups %s", g)
	}
	if q, f := estimate(quick, 1), estimate(full, 3); q >= f/5 {
		t.Errorf("quick run %s, full %s", q, f)
	}
	for _, sc := range quick {
		if !strings.Contains(strings.Join(groups(full), " "), sc.group) {
			t.Errorf("quick scenario %s is not in the full plan", sc.id)
		}
	}
}

// TestRestartService restarts a running server (the Node peer) through
// `bench restart`, as rtbench's --restart-cmd does, and checks that a new
// process answers on the same URL.
func TestRestartService(t *testing.T) {
	node := requireNode(t)
	if _, err := os.Stat(filepath.Join("peer", "node_modules", "socket.io")); err != nil {
		failOrSkip(t, "bench/peer has no node_modules (npm ci in bench/peer): %v", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	srv := &server{target: "node", argv: []string{node, filepath.Join("peer", "server.mjs"), "--port", fmt.Sprint(port)},
		url: fmt.Sprintf("http://127.0.0.1:%d", port), log: log}
	ctx := context.Background()
	if err := srv.start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.stop(9)
	sock := filepath.Join(dir, "restart.sock")
	svc, err := newRestartService(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.close()

	if err := restartCommand([]string{"--sock", sock, "--signal", "term"}); err == nil || !strings.Contains(err.Error(), "no server") {
		t.Errorf("restart with no server: %v", err)
	}
	svc.set(srv)
	cpuBefore := srv.cpu()
	if cpuBefore <= 0 {
		t.Errorf("server CPU %v after starting node", cpuBefore)
	}
	for _, sig := range []string{"term", "kill"} {
		before := srv.pid()
		if err := restartCommand([]string{"--sock", sock, "--signal", sig}); err != nil {
			t.Fatalf("restart %s: %v", sig, err)
		}
		if srv.pid() == before || !healthy(ctx, srv.url) {
			t.Errorf("after restart %s: pid %d (was %d), healthy %v", sig, srv.pid(), before, healthy(ctx, srv.url))
		}
		// Node takes well over a clock tick of CPU to start; the time of
		// the processes stopped is kept.
		if got := srv.cpu(); got < cpuBefore {
			t.Errorf("after restart %s: server CPU %v, was %v", sig, got, cpuBefore)
		}
		cpuBefore = srv.cpu()
	}
	if err := restartCommand([]string{"--sock", sock, "--signal", "hup"}); err == nil || !strings.Contains(err.Error(), "unknown signal") {
		t.Errorf("restart hup: %v", err)
	}
	if err := restartCommand([]string{"--sock", sock}); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("restart without a signal: %v", err)
	}
}

func TestRunValue(t *testing.T) {
	r := run{Result: []byte(`{"missed":0,"latency_ms":{"p99":12.5},"extra":{"steps":[{"p99_ms":40},{"p99_ms":300}],"stop":"x"}}`)}
	tests := []struct {
		path   string
		want   float64
		wantOK bool
	}{
		{"missed", 0, true},
		{"latency_ms.p99", 12.5, true},
		{"extra.steps.1.p99_ms", 300, true},
		{"extra.steps.2.p99_ms", 0, false},
		{"extra.steps.x", 0, false},
		{"extra.stop", 0, false}, // not a number
		{"nope.p99", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			if got, ok := r.value(tc.path); got != tc.want || ok != tc.wantOK {
				t.Errorf("value(%q) = %v, %v; want %v, %v", tc.path, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// TestRewrite renders a results file's table again into the .md beside it.
func TestRewrite(t *testing.T) {
	dir := t.TempDir()
	res := results{Date: "2026-01-02T03:04:05Z", Reps: 1, Machine: machineInfo{Cores: 2, CPU: "test CPU"}, Runs: []run{
		result("rtbroker", 1, 1, statusOK, `{"extra":{"max_deliveries_per_s":310000,"steps":[{"p99_ms":20}]}}`),
		result("node", 1, 1, statusOK, `{"extra":{"max_deliveries_per_s":62000,"steps":[{"p99_ms":80}]}}`),
	}}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "r.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rewrite(path); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "r.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# rtbroker vs the Node Socket.IO peer, 2026-01-02 03:04\n",
		"2 × test CPU",
		"| (a) fan-out, 1 room × 5k WS | deliveries/s ↑ | 310,000 | 62,000 | 5.00 | ≥ 300,000 | yes |\n",
		"| (a) fan-out, 1 room × 5k WS | p99 ms at the first step (1/s) ↓ | 20.0 | 80.0 | 0.25 | — | — |\n",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("the page has no %q:\n%s", want, md)
		}
	}
	if strings.Contains(string(md), "fan-out, 1 room × 1k") {
		t.Errorf("a scenario that did not run has a row:\n%s", md)
	}
}
