package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHostileHeldPolls: held long-polls (off net/http, see
// gateways/longpoll) from a client that sends junk while held, or hangs
// up without reading, keep counting against --max-conns-per-ip while
// held, give their slots back when the client goes, and leave the server
// serving everyone else; a held poll whose client sent junk is still
// answered.
func TestHostileHeldPolls(t *testing.T) {
	s := startServer(t, "", "--max-conns-per-ip", "4")
	host := strings.TrimPrefix(s.URL, "http://")
	dial := func() net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(hostileIP)}}
		c, err := d.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	get := func(c net.Conn, query string) {
		t.Helper()
		if _, err := fmt.Fprintf(c, "GET /poll?%s HTTP/1.1\r\nHost: %s\r\n\r\n", query, host); err != nil {
			t.Fatal(err)
		}
	}
	answer := func(c net.Conn) (int, string) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	held := make([]net.Conn, 4)
	for i := range held {
		held[i] = dial()
		get(held[i], "room=general&timeout=60s")
	}
	time.Sleep(200 * time.Millisecond) // let them be held
	for _, c := range held[:2] {
		if _, err := io.WriteString(c, strings.Repeat("junk after the request\r\n", 4000)); err != nil {
			t.Fatal(err)
		}
	}
	over := dial()
	get(over, "room=general&timeout=0")
	if status, body := answer(over); status != http.StatusTooManyRequests {
		t.Fatalf("a fifth poll while four are held: %d %s, want 429", status, body)
	}
	getHealth(t, newClient(), s.URL)

	// Two hang up without reading while held: their slots come back.
	for _, c := range held[2:] {
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dial()
		get(c, "room=general&timeout=0")
		status, body := answer(c)
		c.Close()
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slots not released: %d %s", status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The polls that got junk are still held: an event answers them.
	if status, body, _ := doReq(t, "POST", s.URL+"/api/rooms/general/events", `{"type":"chat:message","data":{"text":"hi"}}`, nil); status != http.StatusCreated {
		t.Fatalf("publish: %d %s", status, body)
	}
	for _, c := range held[:2] {
		if status, body := answer(c); status != http.StatusOK || !strings.Contains(body, `"chat:message"`) {
			t.Errorf("held poll after junk: %d %s", status, body)
		}
	}
	// Every slot is free again: four polls are held at once.
	for deadline := time.Now().Add(10 * time.Second); ; {
		again := make([]net.Conn, 4)
		for i := range again {
			again[i] = dial()
			get(again[i], "room=general&timeout=60s")
		}
		allHeld := true
		for _, c := range again {
			_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err == nil || !isTimeout(err) {
				allHeld = false
			}
			c.Close()
		}
		if allHeld {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("four polls are not held at once: a slot was not released")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if logs := s.logs.String(); strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "level=WARN") {
		t.Errorf("unexpected log:\n%s", logs)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
