package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/storage/bolt"
)

// adminRows are the hostile rows of the operator routes that move data
// (export, import, backup), for TestHostileREST's secured server: only an
// admin API key reaches them; an import is refused on a non-empty log
// (409), and on an empty one (rows with a server of their own) a bad line
// is answered 400 and a line over the limit 413, both writing nothing.
func adminRows(t *testing.T) []httpRow {
	ada := userToken(t, "ada", nil)
	key := cred{apiKey: testAPIKey}
	header := fmt.Sprintf(`{"format":"rtbroker-export","version":1,"epoch":"01JX","head":1,"time":%q}`, time.Now().UTC().Format(time.RFC3339Nano))
	event := `{"offset":1,"id":"01KC0000000000000000000000","room":"general","type":"chat:message","data":{"text":"hi"},"time":"2026-12-01T00:00:00Z","from":"ada"}`
	end := `{"end":{"events":1,"states":0}}`
	fresh := []string{} // a server of its own: its log is empty
	return []httpRow{
		{name: "admin export without a key", req: hreq{method: "GET", url: "/api/admin/export"}, wantStatus: 401, wantCode: "unauthorized"},
		{name: "admin export with a user token", req: hreq{method: "GET", url: "/api/admin/export", cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden"},
		{name: "admin backup with a user token", req: hreq{method: "GET", url: "/api/admin/backup", cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden"},
		{name: "admin import with a user token", req: hreq{method: "POST", url: "/api/admin/import", body: header + "\n" + event + "\n" + end, cred: cred{bearer: ada}}, wantStatus: 403, wantCode: "forbidden"},
		{name: "admin export of a bad room name", req: hreq{method: "GET", url: "/api/admin/export?room=bad!room", cred: key}, wantStatus: 400, wantCode: "invalid_argument"},
		{name: "admin import into a non-empty log", req: hreq{method: "POST", url: "/api/admin/import", body: header + "\n" + event + "\n" + end, cred: key}, wantStatus: 409, wantCode: "conflict", wantMsg: "not empty"},
		{name: "admin import: a line that is not JSON", flags: fresh, req: hreq{method: "POST", url: "/api/admin/import", body: header + "\n" + event + "\n{oops\n" + end, cred: key},
			wantStatus: 400, wantCode: "invalid_argument", wantMsg: "export line 3"},
		{name: "admin import: not an export", flags: fresh, req: hreq{method: "POST", url: "/api/admin/import", body: event + "\n" + end, cred: key},
			wantStatus: 400, wantCode: "invalid_argument", wantMsg: "not the header"},
		{name: "admin import: an event of a bad room", flags: fresh, req: hreq{method: "POST", url: "/api/admin/import", body: header + "\n" + strings.Replace(event, "general", "bad room", 1) + "\n" + end, cred: key},
			wantStatus: 400, wantCode: "invalid_argument", wantMsg: "room"},
		{name: "admin import: a state record that is not a read position", flags: fresh, req: hreq{method: "POST", url: "/api/admin/import", body: header + "\n" + `{"state":"msgmeta/built","value":"e30="}` + "\n" + `{"end":{"events":0,"states":1}}`, cred: key},
			wantStatus: 400, wantCode: "invalid_argument", wantMsg: "only read positions"},
		{name: "admin import: a line over the limit", flags: fresh, req: hreq{method: "POST", url: "/api/admin/import", body: header + "\n" + strings.Replace(event, `"hi"`, `"`+strings.Repeat("x", importMaxLine(1024))+`"`, 1) + "\n" + end, cred: key},
			wantStatus: 413, wantCode: "too_large", wantMsg: "export line 2"},
	}
}

// TestAdminImportSlowBody: an import whose body stops coming is answered
// 408 once --read-timeout passes and its connection closed, and the
// server goes on serving.
func TestAdminImportSlowBody(t *testing.T) {
	e := newHostileEnv(t, "slowimport", "--read-timeout", "1s")
	c := slowPost(t, e.srv.URL, "/api/admin/import", testAPIKey, 200_000)
	status, body, closed := slowAnswer(t, c)
	if status != 408 || errCode(body) != "timeout" || !closed {
		t.Fatalf("slow import: %d %s (closed %v), want 408 timeout and the connection closed", status, body, closed)
	}
	getHealth(t, newClient(), e.srv.URL)
	e.checkQuiet(t)
}

// TestAdminDownloadsDropNonReaders: a client that asks for an export or a
// backup of a large log and never reads is dropped once --write-timeout
// passes (the connection is closed before the body's end), so it holds
// neither a handler nor, for the backup, a read transaction; nothing is
// logged above DEBUG and the server goes on serving.
func TestAdminDownloadsDropNonReaders(t *testing.T) {
	dir := t.TempDir()
	l, err := bolt.Open(filepath.Join(dir, dbFile), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pad := []byte(`"` + strings.Repeat("z", 1000) + `"`)
	for range 30 {
		entries := make([]broker.Entry, 1000)
		for i := range entries {
			entries[i] = broker.Entry{ID: ulid.Make(), Room: fmt.Sprintf("r%d", i%8), Type: "t", Data: pad, Time: time.Now()}
		}
		if _, err := l.Append(context.Background(), entries); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	s := startServer(t, dir, "--api-key", testAPIKey, "--write-timeout", "1s")
	host := strings.TrimPrefix(s.URL, "http://")
	for _, path := range []string{"/api/admin/export", "/api/admin/backup"} {
		t.Run(path, func(t *testing.T) {
			c, err := net.Dial("tcp", host)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nX-API-Key: %s\r\n\r\n", path, host, testAPIKey)
			time.Sleep(3 * time.Second) // never read, past --write-timeout
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, err := io.Copy(io.Discard, c)
			if err != nil {
				t.Fatalf("after %d bytes: %v, want the server to close the connection", n, err)
			}
			if n >= 30_000*1000 {
				t.Fatalf("read %d bytes: the whole download, want it cut short", n)
			}
		})
	}
	getHealth(t, newClient(), s.URL)
	apiPublish(t, newClient(), s.URL, "r1", `1`)
	(&hostileEnv{srv: s}).checkQuiet(t)
}
