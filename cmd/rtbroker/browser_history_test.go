package main

import "testing"

// TestBrowserHistory drives the history browser (/history.html,
// testdata/browser-history.mjs) in headless Chromium, on a server that
// keeps rooms "trimmed-*" to their last 3 events: "Older" pages back from
// the head of a room of 45 events (with holes: another room's events in
// between) to offset 1, ten at a time, every event on exactly one page;
// "Newer" continues; an event holding <img src=x onerror=…> is text;
// jumping to an offset shows it first (and to another room's offset, the
// next one of this room, saying so); "Follow live" from there receives the
// rest of the room and new events over SSE, once each, in order; a
// position retention removed and one from another epoch show reset rows.
// At 375 px nothing scrolls sideways. The screenshots, history.png
// (1440 px, following live), history-phone.png (375 px) and
// history-reset.png, are copied to $RTBROKER_SCREENSHOT_DIR when that is
// set.
func TestBrowserHistory(t *testing.T) {
	node := needBrowser(t)
	srv := startServer(t, "", "--retention-interval", "1s", "--retention-rules", "trimmed-*=0/3")
	runBrowserScript(t, node, srv, "browser-history.mjs", []string{"history.png", "history-phone.png", "history-reset.png"})
}

// TestBrowserHistoryAPIKey drives the history browser on a server with an
// API key (no anonymous access): without a credential it shows the 401;
// with the key typed in its Token field it reads and lists the room and
// follows it live, the key sent in the Authorization header (which an
// EventSource could not send).
func TestBrowserHistoryAPIKey(t *testing.T) {
	node := needBrowser(t)
	const key = "history-api-key"
	srv := startServer(t, "", "--api-key", key)
	runBrowserScript(t, node, srv, "browser-history.mjs", []string{"history-key.png"}, "RTBROKER_TEST_API_KEY="+key)
}
