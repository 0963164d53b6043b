package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// machineInfo says where and with what a run was made.
type machineInfo struct {
	CPU      string    `json:"cpu"`
	Cores    int       `json:"cores"`
	Go       string    `json:"go"`
	Node     string    `json:"node"`
	SocketIO string    `json:"socket_io"`
	Commit   string    `json:"commit"` // rtbroker's, "+dirty" with local changes
	Disk     *diskInfo `json:"disk,omitempty"`
}

func machine(node string, disk *diskInfo) machineInfo {
	m := machineInfo{Cores: runtime.NumCPU(), Go: runtime.Version(), CPU: "unknown CPU", Disk: disk}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command(node, "--version").Output(); err == nil {
		m.Node = strings.TrimSpace(string(out))
	}
	if data, err := os.ReadFile("bench/peer/node_modules/socket.io/package.json"); err == nil {
		var pkg struct{ Version string }
		json.Unmarshal(data, &pkg)
		m.SocketIO = pkg.Version
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		if st, _ := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); len(st) > 0 {
			m.Commit += "+dirty"
		}
	}
	return m
}

func (m machineInfo) describe() string {
	return fmt.Sprintf("%d × %s, %s, Node %s with socket.io %s, rtbroker %s%s", m.Cores, m.CPU, m.Go, m.Node, m.SocketIO, m.Commit, m.Disk.describe())
}
