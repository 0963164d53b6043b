package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// binaryLimit is --max-data-size in the binary tests.
const binaryLimit = 4096

// pattern returns n bytes that differ from one position to the next.
func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*13 + seed)
	}
	return b
}

// binData is event data holding b as {"bin": {"$binary": base64}}.
func binData(b []byte) []byte {
	return []byte(`{"bin":{"$binary":"` + base64.StdEncoding.EncodeToString(b) + `"}}`)
}

// TestBinaryAcrossInterfaces publishes bytes over HTTP in the $binary
// form and over Socket.IO as a Buffer: socket.io-client receives Buffers
// equal byte for byte, and the history API, SSE and long-poll show both
// events in the $binary form. --max-data-size counts the bytes decoded:
// data exactly at the limit is published (over both), one byte over is
// refused with 413 / too_large; bad base64 is refused with 400 /
// invalid_argument naming $binary.
func TestBinaryAcrossInterfaces(t *testing.T) {
	srv := startServer(t, "", "--max-data-size", fmt.Sprint(binaryLimit), "--max-body-size", "16384", "--sio-max-payload", "16384")
	c := newClient()
	d := startSIODriver(t)
	if r := d.connect("sub", srv.URL, "", false); r["ok"] != true {
		t.Fatal(r)
	}
	if r := d.connect("pub", srv.URL, "", false); r["ok"] != true {
		t.Fatal(r)
	}
	if ack := d.emit("sub", "room:join", map[string]any{"room": "files"}); ack["ok"] != true {
		t.Fatal(ack)
	}
	overhead := len(`{"bin":{"$binary":""}}`)
	buffer := func(b []byte) map[string]any { return map[string]any{"$buffer": base64.StdEncoding.EncodeToString(b)} }

	// Over HTTP: the exact limit passes, one byte over does not.
	httpBytes := pattern(binaryLimit-overhead, 1)
	want := []wireEvent{mustPublish(t, c, srv.URL, "files", "file:http", binData(httpBytes))}
	if r, err := publish(c, srv.URL, "files", "file:http", binData(pattern(binaryLimit-overhead+1, 1))); err != nil || r.status != http.StatusRequestEntityTooLarge || errCode(string(r.body)) != "too_large" {
		t.Fatalf("one byte over the limit over HTTP: %d %s %v", r.status, r.body, err)
	}
	for _, bad := range []string{`{"bin":{"$binary":"AQI"}}`, `{"bin":{"$binary":"!!!!"}}`, `[{"$binary":"AQID\n"}]`} {
		r, err := publish(c, srv.URL, "files", "file:http", []byte(bad))
		if err != nil || r.status != http.StatusBadRequest || errCode(string(r.body)) != "invalid_argument" ||
			!strings.Contains(string(r.body), "$binary") || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("bad base64 %s over HTTP: %d %s %v", bad, r.status, r.body, err)
		}
	}

	// Over Socket.IO: a Buffer exactly at the limit, then one byte over.
	sioBytes := pattern(binaryLimit-overhead, 2)
	ack := d.emit("pub", "file:sio", map[string]any{"room": "files", "bin": buffer(sioBytes)})
	if ack["ok"] != true {
		t.Fatalf("Buffer at the limit: %v", ack)
	}
	ack = d.emit("pub", "file:sio", map[string]any{"room": "files", "bin": buffer(pattern(binaryLimit-overhead+1, 2))})
	if e, _ := ack["error"].(map[string]any); ack["ok"] != false || e["code"] != "too_large" {
		t.Fatalf("Buffer one byte over the limit: %v", ack)
	}
	ack = d.emit("pub", "file:sio", map[string]any{"room": "files", "bin": map[string]any{"$binary": "AQI"}})
	if e, _ := ack["error"].(map[string]any); ack["ok"] != false || e["code"] != "invalid_argument" || !strings.Contains(fmt.Sprint(e["message"]), "$binary") {
		t.Fatalf("bad base64 over Socket.IO: %v", ack)
	}

	// socket.io-client receives both as Buffers.
	evs := d.WaitEvents("sub", 2)
	for i, b := range [][]byte{httpBytes, sioBytes} {
		var data map[string]any
		json.Unmarshal(evs[i].Args[0], &data)
		got, _ := json.Marshal(data)
		exp, _ := json.Marshal(map[string]any{"bin": buffer(b)})
		if string(got) != string(exp) {
			t.Fatalf("event %d received as %.200s, want %.200s", i, got, exp)
		}
	}

	// History, SSE and long-poll show the $binary form.
	var p page
	if status, body, err := getJSON(c, srv.URL+"/api/rooms/files/events?after=0", &p); err != nil || status != 200 || len(p.Events) != 2 {
		t.Fatalf("history: %d %.300s %v", status, body, err)
	}
	want = append(want, p.Events[1])
	for i, b := range [][]byte{httpBytes, sioBytes} {
		if string(p.Events[i].Data) != string(binData(b)) || !p.Events[i].same(want[i]) {
			t.Fatalf("history event %d: %.200s", i, p.Events[i].Data)
		}
	}
	lp, err := poll(c, srv.URL, []string{"files"}, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := diffEvents(lp.Events, want); diff != "" {
		t.Fatalf("long-poll: %s", diff)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := openSSE(ctx, newStreamClient(), srv.URL+"/sse?room=files&after=0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	expectSSE(t, s, want)
}

// TestBrowserBinary runs testdata/browser-binary.mjs: socket.io-client in
// headless Chromium, over WebSocket and over polling, receives
// ArrayBuffers equal to those sent (live and on a join with after: 0),
// and bytes published with fetch as {"$binary": base64}.
func TestBrowserBinary(t *testing.T) {
	node := needBrowser(t)
	srv := startServer(t, "")
	runBrowserScript(t, node, srv, "browser-binary.mjs", []string{"binary.png"})
}
