package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataDirWithForeignDB: a data directory holding a .db file but no
// rtbroker.db is refused, naming the file, and nothing is created in it;
// once the backup is named rtbroker.db the server serves it.
func TestDataDirWithForeignDB(t *testing.T) {
	src := startServer(t, "")
	for range 3 {
		mustPublish(t, http.DefaultClient, src.URL, "restore", "t", []byte(`1`))
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	resp, err := http.Get(src.URL + "/api/backup")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("backup: %d %v", resp.StatusCode, err)
	}
	if err := os.WriteFile(backup, b, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		files   []string // in the data directory
		wantErr string   // "" : starts
	}{
		{name: "a backup only", files: []string{"backup.db"}, wantErr: "holds backup.db but no rtbroker.db"},
		{name: "two foreign files", files: []string{"b.db", "a.db"}, wantErr: "holds a.db, b.db but no rtbroker.db"},
		{name: "the log and a backup", files: []string{"rtbroker.db", "backup.db"}},
		{name: "the backup restored as the log", files: []string{"rtbroker.db"}},
		{name: "other files only", files: []string{"notes.txt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.files {
				copyTo(t, backup, filepath.Join(dir, f))
			}
			if tc.wantErr == "" {
				srv := startServer(t, dir)
				var h struct{ Head uint64 }
				if _, body, err := getJSON(http.DefaultClient, srv.URL+"/healthz", &h); err != nil {
					t.Fatalf("healthz: %v %s", err, body)
				}
				if want := uint64(0); tc.files[0] == "rtbroker.db" && h.Head != 3 || tc.files[0] != "rtbroker.db" && h.Head != want {
					t.Errorf("head = %d with %v", h.Head, tc.files)
				}
				return
			}
			err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data", dir}, func(string) string { return "" }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("serve = %v, want it to say %q", err, tc.wantErr)
			}
			if _, err := os.Stat(filepath.Join(dir, dbFile)); err == nil {
				t.Errorf("%s was created", dbFile)
			}
		})
	}
}

func copyTo(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
