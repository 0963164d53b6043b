package main

import (
	_ "embed"
	"encoding/json"
	"net/http"
)

// openAPIDoc is the OpenAPI 3.1 document of the HTTP interface.
// TestOpenAPIDocumentsEveryRoute fails when the router has a route it
// does not describe, and TestOpenAPIRoutesAnswer calls each operation.
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPIHandler serves openAPIDoc with info.version set to the binary's
// version, encoded once.
func openAPIHandler() http.HandlerFunc {
	var doc map[string]any
	body := openAPIDoc
	if json.Unmarshal(openAPIDoc, &doc) == nil { // checked by the tests
		if info, ok := doc["info"].(map[string]any); ok {
			info["version"] = version
		}
		if b, err := json.MarshalIndent(doc, "", "  "); err == nil {
			body = append(b, '\n')
		}
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}
}
