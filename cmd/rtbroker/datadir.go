package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// checkDataDir refuses a data directory that holds no log file (dbFile)
// but other .db files: --data pointed at the folder of a backup would
// otherwise start a new, empty log (with a new epoch) beside it. A
// directory with the log, or without any .db file, passes.
func checkDataDir(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, dbFile)); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return nil // the log is there (or cannot be looked at: opening it will say why)
	}
	others, err := filepath.Glob(filepath.Join(dir, "*.db"))
	if err != nil || len(others) == 0 {
		return nil
	}
	names := make([]string, len(others))
	for i, p := range others {
		names[i] = filepath.Base(p)
	}
	slices.Sort(names)
	return fmt.Errorf("data directory %s holds %s but no %s (the log): to restore a backup, name it %s; for a new log, use a directory without .db files", dir, strings.Join(names, ", "), dbFile, dbFile)
}
