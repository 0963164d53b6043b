package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
	"github.com/rtbroker/rtbroker/gateways/httpapi"
)

func newServer(t *testing.T, cfg httpapi.Config) (*httptest.Server, *broker.Broker) {
	t.Helper()
	l := brokertest.NewMemLog()
	b := broker.New(l, broker.Config{MaxDataSize: 1024})
	h := httpapi.New(b, cfg)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/rooms/{room}/events", h.Publish)
	mux.HandleFunc("GET /api/rooms/{room}/events", h.History)
	mux.HandleFunc("GET /api/rooms", h.Rooms)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); b.Close(); l.Close() })
	return srv, b
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func do(t *testing.T, method, url, body string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %q", method, url, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q", method, url, ct)
	}
	return r
}

func offsetsOf(t *testing.T, r response) []float64 {
	t.Helper()
	evs, _ := r.body["events"].([]any)
	out := []float64{}
	for _, e := range evs {
		out = append(out, e.(map[string]any)["offset"].(float64))
	}
	return out
}

func TestPublishAndHistory(t *testing.T) {
	srv, _ := newServer(t, httpapi.Config{})
	for i := range 5 {
		r := do(t, "POST", srv.URL+"/api/rooms/lobby/events", fmt.Sprintf(`{"type":"chat:message","data":{"n":%d}}`, i))
		if r.status != 201 || r.body["offset"] != float64(i+1) || r.body["room"] != "lobby" || !strings.HasPrefix(fmt.Sprint(r.body["from"]), "anonymous:") || r.body["id"] == "" {
			t.Fatalf("publish %d: %d %s", i, r.status, r.raw)
		}
	}
	tests := []struct {
		name      string
		query     string
		want      string
		next, prv float64
	}{
		{name: "all", query: "", want: "[1 2 3 4 5]", next: 5, prv: 1},
		{name: "after", query: "?after=2", want: "[3 4 5]", next: 5, prv: 3},
		{name: "page", query: "?after=1&limit=2", want: "[2 3]", next: 3, prv: 2},
		{name: "before head", query: "?before=&limit=2", want: "[4 5]", next: 5, prv: 4},
		{name: "before", query: "?before=4&limit=2", want: "[2 3]", next: 3, prv: 2},
		{name: "before start", query: "?before=2&limit=2", want: "[1]", next: 1, prv: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "GET", srv.URL+"/api/rooms/lobby/events"+tc.query, "")
			if got := fmt.Sprint(offsetsOf(t, r)); r.status != 200 || got != tc.want {
				t.Fatalf("status %d offsets %s, want %s: %s", r.status, got, tc.want, r.raw)
			}
			if r.body["next"] != tc.next || r.body["prev"] != tc.prv || r.body["head"] != float64(5) || r.body["epoch"] == "" {
				t.Fatalf("cursor fields: %s", r.raw)
			}
		})
	}
	r := do(t, "GET", srv.URL+"/api/rooms", "")
	if !strings.Contains(r.raw, `{"room":"lobby","head":5,"first":1,"count":5,"trimmed":0}`) {
		t.Fatalf("rooms: %s", r.raw)
	}
}

func TestPublishBatchAndEphemeral(t *testing.T) {
	srv, b := newServer(t, httpapi.Config{})
	r := do(t, "POST", srv.URL+"/api/rooms/r/events", `[{"type":"a","data":1},{"type":"b","data":2}]`)
	if r.status != 201 || fmt.Sprint(offsetsOf(t, r)) != "[1 2]" {
		t.Fatalf("batch: %d %s", r.status, r.raw)
	}
	r = do(t, "POST", srv.URL+"/api/rooms/r/events", `{"type":"typing","data":true,"ephemeral":true}`)
	if r.status != 202 || r.body["ephemeral"] != true || r.body["offset"] != nil {
		t.Fatalf("ephemeral: %d %s", r.status, r.raw)
	}
	if b.Head().Offset != 2 {
		t.Fatalf("head = %d: ephemeral event was logged", b.Head().Offset)
	}
	r = do(t, "POST", srv.URL+"/api/rooms/r/events", `[{"type":"ok","data":1},{"type":"bad type","data":2}]`)
	if r.status != 400 || b.Head().Offset != 2 {
		t.Fatalf("bad batch: %d %s, head %d (all or nothing)", r.status, r.raw, b.Head().Offset)
	}
}

func TestIdempotencyKey(t *testing.T) {
	srv, _ := newServer(t, httpapi.Config{})
	first := do(t, "POST", srv.URL+"/api/rooms/r/events", `{"type":"t","data":1}`, "Idempotency-Key", "abc")
	again := do(t, "POST", srv.URL+"/api/rooms/r/events", `{"type":"t","data":1}`, "Idempotency-Key", "abc")
	if first.status != 201 || again.status != 201 || first.raw != again.raw || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %s / %d %s", first.status, first.raw, again.status, again.raw)
	}
	other := do(t, "POST", srv.URL+"/api/rooms/elsewhere/events", `{"type":"t","data":1}`, "Idempotency-Key", "abc")
	if other.status != 201 || other.body["offset"] != float64(2) {
		t.Fatalf("same key in another room is another event: %d %s", other.status, other.raw)
	}
	changed := do(t, "POST", srv.URL+"/api/rooms/r/events", `{"type":"t","data":2}`, "Idempotency-Key", "abc")
	if changed.status != 422 || !strings.Contains(changed.raw, "idempotency_conflict") {
		t.Fatalf("key reused for a different event: %d %s", changed.status, changed.raw)
	}
}

func TestBadInput(t *testing.T) {
	srv, b := newServer(t, httpapi.Config{MaxBodySize: 2048})
	tests := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		code                     string
	}{
		{name: "malformed json", method: "POST", path: "/api/rooms/r/events", body: `{"type":`, status: 400, code: "invalid_argument"},
		{name: "empty body", method: "POST", path: "/api/rooms/r/events", status: 400, code: "invalid_argument"},
		{name: "unknown field", method: "POST", path: "/api/rooms/r/events", body: `{"type":"t","dta":1}`, status: 400, code: "invalid_argument"},
		{name: "trailing data", method: "POST", path: "/api/rooms/r/events", body: `{"type":"t"} {}`, status: 400, code: "invalid_argument"},
		{name: "wrong field type", method: "POST", path: "/api/rooms/r/events", body: `{"type":5}`, status: 400, code: "invalid_argument"},
		{name: "missing type", method: "POST", path: "/api/rooms/r/events", body: `{"data":1}`, status: 400, code: "invalid_argument"},
		{name: "body too large", method: "POST", path: "/api/rooms/r/events", body: `{"type":"t","data":"` + strings.Repeat("x", 4096) + `"}`, status: 413, code: "too_large"},
		{name: "data too large", method: "POST", path: "/api/rooms/r/events", body: `{"type":"t","data":"` + strings.Repeat("x", 1500) + `"}`, status: 413, code: "too_large"},
		{name: "bad room", method: "POST", path: "/api/rooms/a%20b/events", body: `{"type":"t"}`, status: 400, code: "invalid_argument"},
		{name: "internal room", method: "POST", path: "/api/rooms/_sessions/events", body: `{"type":"t"}`, status: 400, code: "invalid_argument"},
		{name: "internal room history", method: "GET", path: "/api/rooms/_sessions/events", status: 400, code: "invalid_argument"},
		{name: "bad content type", method: "POST", path: "/api/rooms/r/events", body: `{"type":"t"}`, header: []string{"Content-Type", "application/xml"}, status: 415, code: "unsupported_media_type"},
		{name: "empty batch", method: "POST", path: "/api/rooms/r/events", body: `[]`, status: 400, code: "invalid_argument"},
		{name: "bad after", method: "GET", path: "/api/rooms/r/events?after=-1", status: 400, code: "invalid_argument"},
		{name: "huge after", method: "GET", path: "/api/rooms/r/events?after=99999999999999999999999", status: 400, code: "invalid_argument"},
		{name: "bad limit", method: "GET", path: "/api/rooms/r/events?limit=0", status: 400, code: "invalid_argument"},
		{name: "after and before", method: "GET", path: "/api/rooms/r/events?after=1&before=3", status: 400, code: "invalid_argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, srv.URL+tc.path, tc.body, tc.header...)
			e, _ := r.body["error"].(map[string]any)
			if r.status != tc.status || e == nil || e["code"] != tc.code || e["message"] == "" {
				t.Fatalf("got %d %s, want %d code %q", r.status, r.raw, tc.status, tc.code)
			}
		})
	}
	if b.Head().Offset != 0 {
		t.Fatalf("bad requests logged %d events", b.Head().Offset)
	}
	if r := do(t, "GET", srv.URL+"/api/rooms/never-used/events", ""); r.status != 200 || fmt.Sprint(offsetsOf(t, r)) != "[]" {
		t.Fatalf("unknown room: %d %s", r.status, r.raw)
	}
}

func TestHistoryReset(t *testing.T) {
	srv, b := newServer(t, httpapi.Config{})
	for range 6 {
		do(t, "POST", srv.URL+"/api/rooms/r/events", `{"type":"t"}`)
	}
	if _, err := b.Trim(t.Context(), broker.Retention{MaxCount: 2}); err != nil {
		t.Fatal(err)
	}
	r := do(t, "GET", srv.URL+"/api/rooms/r/events?after=1", "")
	reset, _ := r.body["reset"].(map[string]any)
	if fmt.Sprint(offsetsOf(t, r)) != "[5 6]" || reset == nil || reset["reason"] != "trimmed" || reset["resume"] != float64(4) {
		t.Fatalf("trimmed history: %s", r.raw)
	}
	r = do(t, "GET", srv.URL+"/api/rooms/r/events?after=5&epoch=other", "")
	reset, _ = r.body["reset"].(map[string]any)
	if fmt.Sprint(offsetsOf(t, r)) != "[5 6]" || reset == nil || reset["reason"] != "epoch_mismatch" {
		t.Fatalf("other epoch: %s", r.raw)
	}
}

func TestInternalRoomsAreHidden(t *testing.T) {
	srv, b := newServer(t, httpapi.Config{})
	if _, err := b.Publish(t.Context(), broker.Message{Room: "_state", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	do(t, "POST", srv.URL+"/api/rooms/public/events", `{"type":"t"}`)
	r := do(t, "GET", srv.URL+"/api/rooms", "")
	if strings.Contains(r.raw, "_state") || !strings.Contains(r.raw, `"room":"public"`) {
		t.Fatalf("rooms: %s", r.raw)
	}
}
