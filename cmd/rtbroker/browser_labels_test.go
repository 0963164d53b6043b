package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestBrowserQuickStart is the README's quick start in a browser: events
// published with curl's body (no Content-Type header needed) are seen in
// every panel of the UI opened at /?room=demo, each with its type label
// in full (testdata/browser-labels.mjs), at 1440 and 1000 px wide. The
// screenshots, ui-labels.png and ui-labels-narrow.png, are copied to
// $RTBROKER_SCREENSHOT_DIR when that is set.
func TestBrowserQuickStart(t *testing.T) {
	node := needBrowser(t)
	srv := startServer(t, "")
	types := []string{"greeting", "chat:message", "n", "order.shipped:v2"}
	for _, typ := range types {
		resp, err := http.Post(srv.URL+"/api/rooms/demo/events", "application/x-www-form-urlencoded",
			strings.NewReader(`{"type":"`+typ+`","data":{"text":"hello"}}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("publish %s: %d", typ, resp.StatusCode)
		}
	}
	runBrowserScript(t, node, srv, "browser-labels.mjs", []string{"ui-labels.png", "ui-labels-narrow.png"},
		"ROOM=demo", "TYPES="+strings.Join(types, ","))
}
