package main

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestBrowserChat drives the chat page (/chat.html,
// testdata/browser-chat.mjs) in headless Chromium on a server that
// requires tokens and sends presence events: a bad token is refused with
// the server's reason and no anonymous mode is offered; Ada and Bob, each
// in a browser context of their own with a token signed by the test's
// secret, chat in "general": history on join and "Load older" back to its
// first event, each in the other's presence list, "bob is typing…", "New
// messages below", "Seen by bob" under Ada's message, an edit and a delete
// seen by Bob, a message <img src=x onerror=alert(1)> shown as text (no
// img element, no dialog), a new session after a drop re-joining after
// the last offset, Bob leaving and joining again (sent what was said
// meanwhile), a dropped connection that comes back "recovered" with what
// was sent meanwhile, once; then a direct message shown in Ada's room
// list with its unread count, opened and answered. Text keeps WCAG AA
// contrast in the light and dark themes; at 375 px nothing scrolls
// sideways. The screenshots, chat.png (1280 px) and chat-phone.png
// (375 px), are copied to $RTBROKER_SCREENSHOT_DIR when that is set.
func TestBrowserChat(t *testing.T) {
	node := needBrowser(t)
	srv := startServer(t, "", "--jwt-secret", testSecret, "--presence-events")
	rooms := func(c jwt.MapClaims) {
		c["rooms"] = map[string]any{"subscribe": []string{"general"}, "publish": []string{"general"}}
	}
	runBrowserScript(t, node, srv, "browser-chat.mjs", []string{"chat.png", "chat-phone.png"},
		"MODE=token", "ADA="+mint(t, "ada", rooms), "BOB="+mint(t, "bob", rooms))
}

// TestBrowserChatAnonymous drives the chat page on a server without
// credentials (testdata/browser-chat.mjs, MODE=anonymous), at 375 px: the
// sign-in card offers "Continue anonymously"; the page then says it is
// anonymous, offers no direct messages, joins a room and sends a message
// shown as from anonymous:… with no edit; every control has a name, text
// keeps WCAG AA contrast, nothing scrolls sideways (a long word, a long
// room name), and a reload goes straight back in. The screenshot, chat-anonymous.png, is
// copied to $RTBROKER_SCREENSHOT_DIR when that is set.
func TestBrowserChatAnonymous(t *testing.T) {
	node := needBrowser(t)
	srv := startServer(t, "")
	runBrowserScript(t, node, srv, "browser-chat.mjs", []string{"chat-anonymous.png"}, "MODE=anonymous")
}
