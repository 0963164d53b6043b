package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtbroker/rtbroker/storage/bolt"
)

// TestOperations checks /healthz, /metrics and an online backup that opens
// as a log with every event.
func TestOperations(t *testing.T) {
	srv := startServer(t, "")
	c := newClient()
	for i := range 5 {
		mustPublish(t, c, srv.URL, "ops", "t", []byte(`{"i":`+string(rune('0'+i))+`}`))
	}
	h := getHealth(t, c, srv.URL)
	if h.Head != 5 || h.Epoch == "" {
		t.Fatalf("health = %+v", h)
	}
	resp, err := c.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"rtbroker_log_head 5", "rtbroker_events_published_total 5", "# TYPE rtbroker_commits_total counter"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}

	resp, err = c.Get(srv.URL + "/api/backup")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("backup status %d", resp.StatusCode)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("open backup: %v", err)
	}
	defer l.Close()
	res, err := l.Read(context.Background(), []string{"ops"}, 0, 100)
	if err != nil || len(res.Events) != 5 || l.Epoch() != h.Epoch {
		t.Fatalf("backup holds %d events (epoch %s vs %s), err %v", len(res.Events), l.Epoch(), h.Epoch, err)
	}
}
