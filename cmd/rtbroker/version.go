package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

const versionSynopsis = `rtbroker version

Prints the version (set at build time with -ldflags "-X main.version=…";
otherwise the module version go install recorded, or "dev"), the module,
the VCS commit the binary was built from (with its time, and "modified"
when the work tree had changes) and the Go toolchain.`

// runVersion is `rtbroker version`.
func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := cmdFlags("version", versionSynopsis, stderr)
	if err := parseCmd(fs, args); err != nil {
		return err
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprint(stdout, versionText(version, bi))
	return nil
}

// versionText is what rtbroker version prints for the -ldflags version v
// and the build information bi (nil when the binary has none).
func versionText(v string, bi *debug.BuildInfo) string {
	module, modVersion := "github.com/rtbroker/rtbroker", "(unknown)"
	settings := map[string]string{}
	if bi != nil {
		if bi.Main.Path != "" {
			module = bi.Main.Path
		}
		if bi.Main.Version != "" {
			modVersion = bi.Main.Version
		}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
	}
	if v == "dev" && modVersion != "(devel)" && modVersion != "(unknown)" {
		v = modVersion // go install …@v1.2.3
	}
	commit := "unknown (built without VCS information)"
	if rev := settings["vcs.revision"]; rev != "" {
		commit = rev
		if t := settings["vcs.time"]; t != "" {
			commit += " " + t
		}
		if settings["vcs.modified"] == "true" {
			commit += " (modified)"
		}
	}
	return fmt.Sprintf("rtbroker %s\nmodule %s %s\ncommit %s\ngo %s %s/%s\n",
		v, module, modVersion, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
