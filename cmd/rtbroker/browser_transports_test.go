package main

import "testing"

// TestBrowserTransports drives the transports page (/transports.html,
// testdata/browser-transports.mjs) in headless Chromium: the five panels
// (Socket.IO over WebSocket, Socket.IO polling-only, SSE, long-poll,
// short-poll) go live and each receives a burst of 20 sent with the page's
// control, once each, in order; then, while events are published, "Drop
// connection" is pressed on every panel, and "Offline 2 s" on all of them
// with events published while they are down: every panel ends with every
// event once, in order, its check saying no gap and no duplicate, the
// events published while offline marked replayed and the burst not, and
// two reconnects counted. At 375 px wide nothing scrolls sideways. The
// screenshots, transports.png (1440 px) and transports-phone.png (375 px),
// are copied to $RTBROKER_SCREENSHOT_DIR when that is set.
func TestBrowserTransports(t *testing.T) {
	node := needBrowser(t)
	srv := startServer(t, "")
	runBrowserScript(t, node, srv, "browser-transports.mjs", []string{"transports.png", "transports-phone.png"})
}
