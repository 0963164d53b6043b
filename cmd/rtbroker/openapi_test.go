package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/go-chi/chi/v5"
	"github.com/golang-jwt/jwt/v5"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	oaerrors "github.com/pb33f/libopenapi-validator/errors"

	"github.com/rtbroker/rtbroker/broker"
	"github.com/rtbroker/rtbroker/broker/brokertest"
	"github.com/rtbroker/rtbroker/gateways/httpapi"
)

// oaDoc is the part of an OpenAPI document these tests read.
type oaDoc struct {
	OpenAPI    string                          `json:"openapi"`
	Info       struct{ Title, Version string } `json:"info"`
	Paths      map[string]map[string]json.RawMessage
	Components struct {
		Parameters map[string]oaParam    `json:"parameters"`
		Responses  map[string]oaResponse `json:"responses"`
	} `json:"components"`
}

type oaParam struct {
	Ref      string `json:"$ref"`
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required"`
	Example  any    `json:"example"`
}

type oaResponse struct {
	Ref     string                     `json:"$ref"`
	Content map[string]json.RawMessage `json:"content"`
}

type oaOperation struct {
	OperationID string             `json:"operationId"`
	Parameters  []oaParam          `json:"parameters"`
	Security    *[]json.RawMessage `json:"security"`
	RequestBody *struct {
		Content map[string]struct {
			Example any `json:"example"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]oaResponse `json:"responses"`
}

// oaMethods are the operations a path item may hold.
var oaMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPIValidator is libopenapi's validator of the document: it checks
// the document against the OpenAPI 3.1 schema, and requests and
// responses against the document.
func openAPIValidator(t *testing.T) validator.Validator {
	t.Helper()
	doc, err := libopenapi.NewDocument(openAPIDoc)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("openapi.json: %v", errs)
	}
	return v
}

// validationErrors formats a validator's errors, one a line.
func validationErrors(errs []*oaerrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n%s: %s", e.Message, e.Reason)
		for _, f := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n    %s: %s", f.KeywordLocation, f.Reason)
		}
	}
	return b.String()
}

func loadOpenAPI(t *testing.T) *oaDoc {
	t.Helper()
	var d oaDoc
	if err := json.Unmarshal(openAPIDoc, &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return &d
}

// operations lists the document's operations as "METHOD path", sorted,
// with each operation's path-level parameters prepended and $refs to
// components resolved.
func (d *oaDoc) operations(t *testing.T) (keys []string, ops map[string]oaOperation) {
	t.Helper()
	ops = map[string]oaOperation{}
	for path, item := range d.Paths {
		var common []oaParam
		if raw, ok := item["parameters"]; ok {
			if err := json.Unmarshal(raw, &common); err != nil {
				t.Fatalf("%s parameters: %v", path, err)
			}
		}
		for _, m := range oaMethods {
			raw, ok := item[m]
			if !ok {
				continue
			}
			var op oaOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", m, path, err)
			}
			op.Parameters = append(slices.Clone(common), op.Parameters...)
			for i, p := range op.Parameters {
				if p.Ref != "" {
					name := strings.TrimPrefix(p.Ref, "#/components/parameters/")
					q, ok := d.Components.Parameters[name]
					if !ok {
						t.Errorf("%s %s: unresolved %s", m, path, p.Ref)
					}
					op.Parameters[i] = q
				}
			}
			for code, r := range op.Responses {
				if r.Ref != "" {
					q, ok := d.Components.Responses[strings.TrimPrefix(r.Ref, "#/components/responses/")]
					if !ok {
						t.Errorf("%s %s: unresolved %s", m, path, r.Ref)
					}
					op.Responses[code] = q
				}
			}
			key := strings.ToUpper(m) + " " + path
			ops[key] = op
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	return keys, ops
}

// TestOpenAPIDocument: the document is valid OpenAPI 3.1 (libopenapi's
// check against the specification's schema), every $ref points at
// something, operation ids are unique, every operation has responses, and
// GET /api/openapi.json serves it with the binary's version.
func TestOpenAPIDocument(t *testing.T) {
	d := loadOpenAPI(t)
	if d.OpenAPI != "3.1.0" || d.Info.Title == "" {
		t.Fatalf("openapi %q, title %q", d.OpenAPI, d.Info.Title)
	}
	if ok, errs := openAPIValidator(t).ValidateDocument(); !ok {
		t.Errorf("openapi.json is not valid OpenAPI 3.1:%s", validationErrors(errs))
	}
	var whole any
	json.Unmarshal(openAPIDoc, &whole)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if !resolves(whole, ref) {
					t.Errorf("$ref %q resolves to nothing", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(whole)
	keys, ops := d.operations(t)
	ids := map[string]string{}
	for _, k := range keys {
		op := ops[k]
		if op.OperationID == "" || ids[op.OperationID] != "" {
			t.Errorf("%s: operationId %q missing or also on %s", k, op.OperationID, ids[op.OperationID])
		}
		ids[op.OperationID] = k
		if len(op.Responses) == 0 {
			t.Errorf("%s: no responses", k)
		}
	}

	rec := httptest.NewRecorder()
	openAPIHandler()(rec, httptest.NewRequest("GET", "/api/openapi.json", nil))
	var served oaDoc
	if err := json.Unmarshal(rec.Body.Bytes(), &served); err != nil || served.Info.Version != version || len(served.Paths) != len(d.Paths) {
		t.Fatalf("served document: %v, version %q", err, served.Info.Version)
	}
}

// resolves reports whether a local JSON pointer ref names a value of doc.
func resolves(doc any, ref string) bool {
	if !strings.HasPrefix(ref, "#/") {
		return false
	}
	v := doc
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

// allMethods is how many methods chi lists for a route registered with
// Handle (every method).
const allMethods = 10

// routerRoutes walks the router serve builds (every handler field of
// routes filled, with stubs where a field is a plain handler) and returns
// "METHOD path" for each route, paths in OpenAPI's form: a trailing /*
// becomes /. A route registered for every method is "* path".
func routerRoutes(t *testing.T) []string {
	t.Helper()
	b, memLog := brokertest.NewBroker(t, broker.Config{})
	var h routes
	stub := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	v := reflect.ValueOf(&h).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem() // the fields are unexported
		switch {
		case f.Type() == reflect.TypeOf(http.HandlerFunc(nil)):
			f.Set(reflect.ValueOf(stub))
		case f.Type() == reflect.TypeOf((*http.Handler)(nil)).Elem():
			f.Set(reflect.ValueOf(http.Handler(stub)))
		}
	}
	h.api = httpapi.New(b, httpapi.Config{})
	st := &store{log: memLog, backup: stub}
	h.admin = withDumpRoutes(newAdminAPI(b, h.api, time.Second), h.api, b, st, nil, &config{}, slog.New(slog.DiscardHandler))
	for i := range v.NumField() { // a field left nil could hide its routes (newRouter skips nil handlers)
		if v.Field(i).IsZero() {
			t.Fatalf("routes.%s is not set here: give it a value so that its routes are walked", v.Type().Field(i).Name)
		}
	}
	methods := map[string][]string{}
	r, ok := newRouter(h).(chi.Routes)
	if !ok {
		t.Fatal("newRouter returns no chi router")
	}
	err := chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.TrimSuffix(strings.ReplaceAll(route, "/*/", "/"), "*") // Mount("/", …) inside a mount walks as /*/
		methods[route] = append(methods[route], method)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for route, ms := range methods {
		if len(ms) >= allMethods {
			out = append(out, "* "+route)
			continue
		}
		for _, m := range ms {
			out = append(out, m+" "+route)
		}
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIDocumentsEveryRoute: every route the router registers is in
// the document and every operation of the document is routed. A route
// added without documenting it fails here: describe it in openapi.json.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	d := loadOpenAPI(t)
	keys, _ := d.operations(t)
	documented := map[string]bool{}
	for _, k := range keys {
		documented[k] = true
	}
	routed := map[string]bool{}
	for _, r := range routerRoutes(t) {
		method, path, _ := strings.Cut(r, " ")
		if method == "*" { // Handle: the path must be documented, with the methods its protocol uses
			if len(d.Paths[path]) == 0 {
				t.Errorf("route %s (every method) is not documented in openapi.json", path)
			}
			for _, m := range oaMethods {
				routed[strings.ToUpper(m)+" "+path] = true
			}
			continue
		}
		routed[r] = true
		if !documented[r] {
			t.Errorf("route %s is not documented in openapi.json", r)
		}
	}
	for _, k := range keys {
		if !routed[k] {
			t.Errorf("openapi.json documents %s, which the router does not route", k)
		}
	}
}

// TestOpenAPIRoutesAnswer calls every documented operation as the document
// describes a valid call (its parameters' and bodies' examples) on a real
// server with credentials configured, and checks that the answer's status
// is a documented success and its Content-Type the documented one.
func TestOpenAPIRoutesAnswer(t *testing.T) {
	d := loadOpenAPI(t)
	keys, ops := d.operations(t)
	s := startServer(t, "", "--jwt-secret", testSecret, "--api-key", testAPIKey, "--allowed-origins", "https://app.example")
	user := mint(t, "ada", func(c jwt.MapClaims) {
		c["rooms"] = map[string]any{"subscribe": []string{"*"}, "publish": []string{"*"}}
	})
	publish := func() map[string]any {
		req, _ := http.NewRequest("POST", s.URL+"/api/rooms/lobby/events", strings.NewReader(`{"type":"chat:message","data":{"text":"hi"}}`))
		req.Header.Set("Authorization", "Bearer "+user)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ev map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&ev); err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("publish: %s %v", resp.Status, err)
		}
		return ev
	}
	publish()
	v := openAPIValidator(t)
	var session string // an Engine.IO session, for the polling POST
	for _, k := range keys {
		op := ops[k]
		t.Run(op.OperationID, func(t *testing.T) {
			method, path, _ := strings.Cut(k, " ")
			q := url.Values{}
			header := http.Header{}
			for _, p := range op.Parameters {
				val := fmt.Sprint(p.Example)
				if ex, ok := p.Example.([]any); ok && len(ex) > 0 {
					val = fmt.Sprint(ex[0])
				}
				switch {
				case p.In == "path" && p.Name == "id" && strings.HasPrefix(path, "/api/admin/connections/"):
					path = strings.ReplaceAll(path, "{id}", openConnection(t, s.URL, user))
				case p.In == "path" && p.Name == "id":
					ev := publish() // a message of the caller's to edit or delete
					path = strings.ReplaceAll(path, "{id}", ev["id"].(string))
					q.Set("offset", strconv.FormatFloat(ev["offset"].(float64), 'f', -1, 64))
				case p.Example == nil && !(p.Name == "sid" && p.Required):
				case p.In == "path":
					path = strings.ReplaceAll(path, "{"+p.Name+"}", val)
				case p.In == "query" && !q.Has(p.Name):
					q.Set(p.Name, val)
				case p.In == "header":
					header.Set(p.Name, val)
				}
				if p.Name == "sid" && p.Required {
					q.Set("sid", session)
				}
			}
			if strings.HasPrefix(path, "/socket.io/") && method == "POST" && session == "" {
				t.Fatal("the handshake (GET) did not run first")
			}
			var reqBody []byte
			if op.RequestBody != nil {
				for ct, c := range op.RequestBody.Content {
					reqBody, _ = json.Marshal(c.Example)
					if s, ok := c.Example.(string); ok {
						reqBody = []byte(s)
					}
					header.Set("Content-Type", ct)
				}
			}
			var body io.Reader
			if reqBody != nil {
				body = bytes.NewReader(reqBody)
			}
			base := s.URL
			if op.OperationID == "adminImport" { // into an empty log: a fresh server, the first one's export
				reqBody = apiKeyGet(t, s.URL+"/api/admin/export")
				body = bytes.NewReader(reqBody)
				base = startServer(t, "", "--jwt-secret", testSecret, "--api-key", testAPIKey).URL
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, method, base+path+"?"+q.Encode(), body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = header
			if op.Security == nil || len(*op.Security) > 0 { // the document's default: credentials accepted
				cred := user
				if k == "GET /api/backup" || strings.HasSuffix(k, " /metrics") || strings.Contains(k, " /api/admin/") {
					cred = testAPIKey // admin only
				}
				req.Header.Set("Authorization", "Bearer "+cred)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if path == "/socket.io/" && method == "GET" {
				b, _ := io.ReadAll(resp.Body)
				var open struct{ Sid string }
				json.Unmarshal(bytes.TrimPrefix(b, []byte("0")), &open)
				session = open.Sid
			}
			code := strconv.Itoa(resp.StatusCode)
			doc, ok := op.Responses[code]
			if !ok || resp.StatusCode >= 300 {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("%s answered %s %s; documented: %v", k, resp.Status, b, slices.Sorted(mapKeys(op.Responses)))
			}
			mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			if len(doc.Content) > 0 {
				if _, ok := doc.Content[mt]; !ok {
					t.Errorf("%s: Content-Type %q, documented %v", k, resp.Header.Get("Content-Type"), slices.Sorted(mapKeys(doc.Content)))
				}
			}
			if method == "HEAD" || mt != "application/json" {
				return // a stream, a file or a page: the status and type are the description
			}
			// The request and the JSON answer, against the document's schemas.
			respBody, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body = io.NopCloser(bytes.NewReader(respBody))
			req.Body = io.NopCloser(bytes.NewReader(reqBody))
			validate := v.ValidateHttpRequestResponse
			if ct := req.Header.Get("Content-Type"); ct != "" && ct != "application/json" {
				validate = v.ValidateHttpResponse // the validator decodes request bodies as JSON
			}
			if ok, errs := validate(req, resp); !ok {
				t.Errorf("%s: %s %s%s", k, resp.Status, respBody, validationErrors(errs))
			}
		})
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// apiKeyGet is the body of GET url with the admin API key.
func apiKeyGet(t *testing.T, url string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return b
}

// openConnection opens an SSE stream of user's, held until the end of the
// test, and returns its id in GET /api/admin/connections.
func openConnection(t *testing.T, base, user string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/sse?room=held", nil)
	req.Header.Set("Authorization", "Bearer "+user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var list struct {
			Connections []struct{ ID, Transport string }
		}
		json.Unmarshal(apiKeyGet(t, base+"/api/admin/connections?transport=sse"), &list)
		if len(list.Connections) > 0 {
			return list.Connections[len(list.Connections)-1].ID
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the SSE stream is not listed")
	return ""
}
