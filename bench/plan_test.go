package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPlanIssue15 checks the steps issue 15 adds: the replay's first steps
// on both servers (after a restart on rtbroker only), idle WebSocket
// memory read 10 s and 60 s after the last connect with and without the
// memory release, and fan-out to 15k and 19,900 with room for the
// publisher under the 20,000 open files.
func TestPlanIssue15(t *testing.T) {
	byID := map[string]scenario{}
	for _, sc := range plan(fullSizes) {
		byID[sc.id] = sc
	}
	replay := byID["replay"]
	for _, st := range replay.steps {
		if restarted := strings.Contains(st.label, "after restart"); restarted != (st.only == "rtbroker") {
			t.Errorf("replay step %q runs on %q", st.label, st.only)
		}
	}
	for _, id := range []string{"idle-ws", "idle-ws-norelease"} {
		args := strings.Join(byID[id].steps[0].args, " ")
		if !strings.Contains(args, "idle --subs 10000 --transport ws") || !strings.Contains(args, "--rss-at 10s,1m0s") {
			t.Errorf("%s: rtbench %s", id, args)
		}
		if st := byID[id].steps[0]; st.estimate < time.Minute || st.timeout < 5*time.Minute {
			t.Errorf("%s: estimate %s, timeout %s for a minute's wait", id, st.estimate, st.timeout)
		}
	}
	if got := byID["idle-ws-norelease"]; !slices.Equal(got.rtbrokerArgs, []string{"--memory-release=false"}) || !slices.Equal(got.targets, []string{"rtbroker"}) {
		t.Errorf("idle-ws-norelease: rtbroker %v on %v", got.rtbrokerArgs, got.targets)
	}
	if len(byID["idle-ws"].rtbrokerArgs) != 0 {
		t.Errorf("idle-ws: rtbroker %v", byID["idle-ws"].rtbrokerArgs)
	}
	for id, want := range map[string]string{
		"fanout-15k":   "fanout --subs 15000 --transport ws --rate 1 ",
		"fanout-19.9k": "fanout --subs 19900 --transport ws --rate 1 ",
	} {
		args := strings.Join(byID[id].steps[0].args, " ") + " "
		if !strings.HasPrefix(args, want) {
			t.Errorf("%s: rtbench %s", id, args)
		}
		// rtbench dials 2,000 clients an address from 127.0.0.2 by default;
		// the plan must not undo it.
		if strings.Contains(args, "--src") || strings.Contains(args, "--per-src") {
			t.Errorf("%s: rtbench %s", id, args)
		}
	}
	if args := strings.Join(byID["fanout-19.9k"].steps[0].args, " "); !strings.Contains(args, "--pub-conns 16") {
		t.Errorf("fanout-19.9k: rtbench %s: 19,900 + 64 publishers is too close to 20,000 files", args)
	}
}

// TestNewServerFlags checks a scenario's rtbroker flags reach its command
// line, and that a binary without them is refused before it starts.
func TestNewServerFlags(t *testing.T) {
	sc := scenario{id: "idle-ws-norelease", rtbrokerArgs: []string{"--memory-release=false"}}
	s := &suite{rtbroker: "rtbroker", node: "node", help: "  --memory-release\n  --connect-rate"}
	srv, err := s.newServer(sc, "rtbroker", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv.log.Close()
	if !slices.Contains(srv.argv, "--memory-release=false") {
		t.Errorf("argv %v", srv.argv)
	}
	srv, err = s.newServer(sc, "node", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv.log.Close()
	if slices.Contains(srv.argv, "--memory-release=false") {
		t.Errorf("node argv %v", srv.argv)
	}
	s.help = "  --connect-rate"
	if _, err := s.newServer(sc, "rtbroker", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no --memory-release flag") {
		t.Errorf("an rtbroker without the flag: %v", err)
	}
}
