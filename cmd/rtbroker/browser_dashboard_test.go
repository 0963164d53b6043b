package main

import "testing"

// TestBrowserDashboard drives the dashboard (/dashboard.html,
// testdata/browser-dashboard.mjs) in headless Chromium on an open server:
// it scrapes /metrics (events/s 0 before any load); while Node publishes to
// two rooms, four at a time, and two SSE streams read one, events/s, deliveries/s and
// commits/s rise above 0, the SSE connections are counted, the batch and
// fsync figures have values, and the rooms table's heads move; a
// Socket.IO join from an offset and one from an offset retention removed
// move "Recovered" and "Refused". At 375 px
// nothing scrolls sideways. The screenshots, dashboard.png (1440 px) and
// dashboard-phone.png (375 px), taken under load, are copied to
// $RTBROKER_SCREENSHOT_DIR when that is set.
func TestBrowserDashboard(t *testing.T) {
	node := needBrowser(t)
	srv := startServer(t, "", "--retention-interval", "1s", "--retention-rules", "dash-t=0/2")
	runBrowserScript(t, node, srv, "browser-dashboard.mjs", []string{"dashboard.png", "dashboard-phone.png"})
}

// TestBrowserDashboardAdminKey drives the dashboard on a server with an
// API key and a JWT secret, where /metrics is for admin API keys only:
// the page says 401, asks for an admin key (focus on the field) and names
// --metrics-addr; a wrong key is 401 again, a valid token that is not an
// admin credential is 403 "not an admin key", and the admin key makes it
// live with the rooms listed. The screenshot of the 401 message,
// dashboard-refused.png, is copied to $RTBROKER_SCREENSHOT_DIR when set.
func TestBrowserDashboardAdminKey(t *testing.T) {
	node := needBrowser(t)
	const key = "dashboard-admin-key"
	srv := startServer(t, "", "--api-key", key, "--jwt-secret", testSecret)
	tok := mint(t, "ada", nil)
	runBrowserScript(t, node, srv, "browser-dashboard.mjs", []string{"dashboard-refused.png"},
		"RTBROKER_TEST_ADMIN_KEY="+key, "RTBROKER_TEST_TOKEN="+tok)
}
