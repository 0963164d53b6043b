// Package httpxtest holds test helpers shared by the HTTP gateways' tests.
package httpxtest

import (
	"encoding/json"
	"net/http"
	"testing"
)

// CheckError checks that resp is a JSON error {"error":{"code","message"}}
// with the given status and code and a non-empty message, and returns the
// message. It reads resp.Body; the caller closes it.
func CheckError(t testing.TB, resp *http.Response, status int, code string) string {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d", resp.StatusCode, status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("error body: %v", err)
	}
	if body.Error.Code != code || body.Error.Message == "" {
		t.Errorf("error = %+v, want code %q and a message", body.Error, code)
	}
	return body.Error.Message
}
