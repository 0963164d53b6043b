package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// binaryRows are the hostile Socket.IO table's rows about binary events.
// What socket.io-client cannot send (attachments that do not match their
// placeholders) is sent by rawSIO, a bare Engine.IO client on the table's
// transport: an attachment no placeholder refers to is refused with an
// ack (the connection stays), while a placeholder naming no attachment or
// a packet announcing more attachments than allowed is a protocol error
// that closes the connection, as the Node.js server does.
func binaryRows(ada string) []sioRow {
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	return []sioRow{
		{name: "bad base64 in a $binary object", steps: []sioStep{{event: "file:chunk", arg: map[string]any{"room": "general", "bin": map[string]any{"$binary": "!!!!"}}, wantCode: "invalid_argument", wantMsg: "$binary"}}},
		{name: "bytes over --max-data-size (counted decoded)", steps: []sioStep{{event: "file:chunk", arg: map[string]any{"room": "general", "bin": map[string]any{"$buffer": b64(1010)}}, wantCode: "too_large"}}},
		{name: "attachments count mismatch", run: func(t *testing.T, e *sioEnv) {
			c := dialRawSIO(t, e, ada)
			c.send(t, rawMsg{text: `52-7["file:chunk",{"room":"general","bin":{"_placeholder":true,"num":0}}]`}, rawMsg{data: []byte{1}}, rawMsg{data: []byte{2}})
			ack := c.ack(t, 7)
			if !strings.Contains(ack, `"code":"invalid_argument"`) || !strings.Contains(ack, "attachments count mismatch") {
				t.Fatalf("ack %s, want invalid_argument: attachments count mismatch", ack)
			}
			c.send(t, rawMsg{text: `28["room:join",{"room":"general"}]`})
			if ack := c.ack(t, 8); !strings.Contains(ack, `"ok":true`) {
				t.Fatalf("join after the row: %s", ack)
			}
		}},
		{name: "placeholder num out of range", run: func(t *testing.T, e *sioEnv) {
			c := dialRawSIO(t, e, ada)
			c.send(t, rawMsg{text: `51-7["file:chunk",{"room":"general","bin":{"_placeholder":true,"num":1}}]`}, rawMsg{data: []byte{1}})
			c.waitClosed(t)
		}},
		{name: "huge declared attachment count", run: func(t *testing.T, e *sioEnv) {
			c := dialRawSIO(t, e, ada)
			c.send(t, rawMsg{text: `5999999-7["file:chunk",{"room":"general"}]`})
			c.waitClosed(t)
		}},
	}
}

// rawSIO is a bare Engine.IO v4 client connected to the main namespace,
// from the hostile address, over WebSocket or polling.
type rawSIO struct {
	base    string
	ws      *websocket.Conn // WebSocket transport
	http    *http.Client    // polling transport
	sid     string
	pending []string // polling: packets received, not yet read
}

// rawMsg is one Engine.IO message: text (a Socket.IO packet) or binary.
type rawMsg struct {
	text string
	data []byte
}

func dialRawSIO(t *testing.T, e *sioEnv, token string) *rawSIO {
	t.Helper()
	return dialRawSIOVia(t, e, token, nil)
}

// dialRawSIOVia is dialRawSIO whose WebSocket reads and writes its TCP
// connection through wrap, when set (hostile_replay_test.go's slow
// reader).
func dialRawSIOVia(t *testing.T, e *sioEnv, token string, wrap func(net.Conn) net.Conn) *rawSIO {
	t.Helper()
	c := &rawSIO{base: e.srv.URL + "/socket.io/?EIO=4&transport=" + e.transport}
	if e.transport == "websocket" {
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(hostileIP)}}
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := nd.DialContext(ctx, network, addr)
			if err != nil || wrap == nil {
				return nc, err
			}
			return wrap(nc), nil
		}
		d := websocket.Dialer{NetDialContext: dial, HandshakeTimeout: 10 * time.Second}
		ws, _, err := d.Dial("ws"+strings.TrimPrefix(c.base, "http"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		c.ws = ws
	} else {
		c.http = clientFrom(hostileIP)
		status, body := c.poll(t, "GET", "")
		var open struct{ SID string }
		if status != 200 || !strings.HasPrefix(body, "0") || json.Unmarshal([]byte(body[1:]), &open) != nil {
			t.Fatalf("handshake: %d %s", status, body)
		}
		c.sid = open.SID
		c.base += "&sid=" + open.SID
	}
	if c.ws != nil {
		if p := c.next(t); !strings.HasPrefix(p, "0{") {
			t.Fatalf("open packet %q", p)
		}
	}
	auth, _ := json.Marshal(map[string]string{"token": token})
	c.send(t, rawMsg{text: "0" + string(auth)})
	if p := c.next(t); !strings.HasPrefix(p, "0{") { // the Socket.IO CONNECT answer, 40{…}
		t.Fatalf("CONNECT answered %q", p)
	}
	return c
}

// poll sends one polling request.
func (c *rawSIO) poll(t *testing.T, method, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, c.base, strings.NewReader(body))
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// send sends Engine.IO messages (text ones are given without their "4").
func (c *rawSIO) send(t *testing.T, msgs ...rawMsg) {
	t.Helper()
	if c.ws != nil {
		for _, m := range msgs {
			var err error
			if m.data != nil {
				err = c.ws.WriteMessage(websocket.BinaryMessage, m.data)
			} else {
				err = c.ws.WriteMessage(websocket.TextMessage, []byte("4"+m.text))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	parts := make([]string, len(msgs))
	for i, m := range msgs {
		if m.data != nil {
			parts[i] = "b" + base64.StdEncoding.EncodeToString(m.data)
		} else {
			parts[i] = "4" + m.text
		}
	}
	if status, body := c.poll(t, "POST", strings.Join(parts, "\x1e")); status != 200 {
		t.Fatalf("POST: %d %s", status, body)
	}
}

// next returns the next Engine.IO packet other than a ping (answered),
// without the leading "4" of a message; "" when the connection closed.
func (c *rawSIO) next(t *testing.T) string {
	t.Helper()
	for {
		var p string
		if c.ws != nil {
			c.ws.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, b, err := c.ws.ReadMessage()
			if err != nil {
				return ""
			}
			p = string(b)
		} else {
			if len(c.pending) == 0 {
				status, body := c.poll(t, "GET", "")
				if status != 200 {
					return ""
				}
				c.pending = strings.Split(body, "\x1e")
			}
			p, c.pending = c.pending[0], c.pending[1:]
		}
		switch {
		case p == "2":
			if c.ws != nil {
				c.ws.WriteMessage(websocket.TextMessage, []byte("3"))
			} else {
				c.poll(t, "POST", "3")
			}
		case p == "1":
			return ""
		case strings.HasPrefix(p, "4"):
			return p[1:]
		case strings.HasPrefix(p, "0"):
			return p
		}
	}
}

// ack returns the payload of the acknowledgement with id.
func (c *rawSIO) ack(t *testing.T, id int) string {
	t.Helper()
	prefix := fmt.Sprintf("3%d[", id)
	for {
		p := c.next(t)
		if p == "" {
			t.Fatalf("connection closed before ack %d", id)
		}
		if strings.HasPrefix(p, prefix) {
			return p[len(prefix)-1:]
		}
	}
}

// waitClosed fails unless the server closes the connection.
func (c *rawSIO) waitClosed(t *testing.T) {
	t.Helper()
	for {
		p := c.next(t)
		if p == "" {
			return
		}
		if strings.HasPrefix(p, "3") {
			t.Fatalf("acked %q: want the connection closed", p)
		}
	}
}
